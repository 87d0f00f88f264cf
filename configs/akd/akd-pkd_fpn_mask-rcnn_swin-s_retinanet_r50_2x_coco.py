# AKD (Zhang et al., ACM MM 2023) over PKD from the Swin-S Mask R-CNN
# teacher: the PKD Swin recipe (levels 0-3 paired, the student resized to
# the teacher's H x W, weight 6) under 8 dropout avatars (p = 0.1),
# per-channel uncertainty.
# No published number for this pair; the PKD base is 41.5 box AP.
# the PKD Swin config: student, teacher, paired levels + alignment, loss
_base_ = ['../pkd/pkd_fpn_mask-rcnn_swin-s_retinanet_r50_2x_coco.py']
# which loss: that PKD loss under 8 dropout avatars
model = dict(distill=dict(neck=dict(loss=dict(
    _delete_=True, type='mmkd.AvatarLoss',
    base=_base_.model.distill.neck.loss,
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))))
