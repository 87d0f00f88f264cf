# Two teachers: the toy RetinaNet R18-w64 (CNN, FPN strides 8-128, 128
# channels) and the toy RetinaNet Swin-t32 (transformer, FPN strides 4-64, 96
# channels) -> R18-w32 (student, strides 8-128, 64 channels) on the synthetic
# shapes set. One entry per teacher, each with the alignment of its own pair
# base (their FPN levels cannot be averaged: other strides and widths); the
# two losses add up. The method configs set the losses.
# student, the mmkd runner and the R18-w64 teacher (`teacher`) of its pair
# base, the Swin-t32 teacher (`swin_t32_teacher`)
_base_ = ['./retinanet_r18-w64_r18-w32_toy-shapes.py',
          '../teachers/retinanet_swin-t32_toy-shapes.py']
model = dict(
    _delete_=True, type='mmkd.MultiTeacherDistiller',
    student=_base_.model.student,
    teachers=dict(r18=_base_.teacher, swin=_base_.swin_t32_teacher),
    # which layers of which teacher -> connector
    distill=dict(
        r18_neck=dict(student='neck', teacher='r18.neck', num_levels=5,
                      connector=dict(type='mmkd.ConvConnector',
                                     in_channels=64, out_channels=128)),
        swin_neck=dict(
            student='neck', teacher='swin.neck', num_levels=4,
            student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
            connector=dict(type='mmkd.ConnectorChain', connectors=[
                dict(type='mmkd.ResizeConnector'),
                dict(type='mmkd.ConvConnector', in_channels=64,
                     out_channels=96)]))))
