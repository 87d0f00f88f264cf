# Pair: RetinaNet Swin-T 1x (transformer teacher, 37.3 box AP) -> RetinaNet
# R50 1x (student, 36.5) on COCO. Both FPNs give 5 levels of 256 channels at
# strides 8-128 (the Swin FPN takes stages 2-4) and the heads are the same
# RetinaHead, so the FPN entry and head entries pair them level by level as
# they are. The method config
# (configs/crosskd/crosskd_head_retinanet_swin-t_r50_1x_coco.py) distils
# the head and drops the FPN entry.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint. mmdet's model zoo has no RetinaNet Swin-T:
# CrossKD's authors trained mmdet's config (37.3 AP) and share the weights
# on Google Drive (the "RetinaNet-SwinT (T)" row of their README,
# https://drive.google.com/file/d/1W2KGR77XfQ5SRomgIyxCjqUNGJichcgh/view);
# download them to this path or point model.teacher.checkpoint elsewhere.
teacher = dict(
    config='mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py',
    checkpoint='checkpoints/retinanet_swin-t-p4-w7_fpn_1x_coco.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
