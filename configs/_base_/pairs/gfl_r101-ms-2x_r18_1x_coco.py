# Pair: GFL R101 multi-scale 2x (teacher, 44.7 box AP in mmdet's model zoo)
# -> GFL R18 1x (student, 35.8 in mmdet's LD README) on COCO: the GFL R50
# pair (its teacher and checkpoint) with an R18 student, built as mmdet's
# LD config builds it (gfl_r50_fpn_1x with a ResNet-18 backbone from
# torchvision's weights, the FPN taking its 64-512 channels). The method
# config (configs/ld/ld_head_gfl_r101-ms-2x_r18_1x_coco.py) sets the
# entries.
# student, teacher (mmdet model zoo) and the FPN entry of the R50 pair
_base_ = ['./gfl_r101-ms-2x_r50_1x_coco.py']
# the student: R50 -> R18
model = dict(student=dict(
    backbone=dict(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512])))
