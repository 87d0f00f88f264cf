# Two teachers: RetinaNet R101 (38.9 box AP) and RetinaNet X101-64x4d (41.0)
# -> R50 2x (37.4) on COCO, distilled on FPN levels 0-3 of both at once (the
# same strides and 256 channels: one entry reads both and learns from their
# ensemble). The method configs set the ensemble and the loss.
# student, the mmkd runner and the R101 teacher (`teacher`) of its pair
# base, the X101 teacher (`x101_teacher`)
_base_ = ['./retinanet_r101_r50_2x_coco.py',
          '../teachers/retinanet_x101-64x4d_coco.py']
model = dict(
    _delete_=True, type='mmkd.MultiTeacherDistiller',
    student=_base_.model.student,
    teachers=dict(r101=_base_.teacher, x101=_base_.x101_teacher),
    # which layers (levels 0-3 of both teachers)
    distill=dict(neck=dict(
        student='neck', teacher=['r101.neck', 'x101.neck'],
        student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3])))
