# LSH feature mimicking (LSHFM; Wang, Ge and Wu, arXiv 2011.01424) on the
# RetinaNet head, in the authors' RetinaNet form (their public code): the
# student mimics the teacher's output of the last classification-branch conv
# at every position of every FPN level, each position's vector being its
# 3 x 3 x 256 neighbourhood (2304-d, what the 3 x 3 classifier conv sees),
# one mean over the positions of all five levels of an image, leaving out
# positions whose nine anchors are all ignored by the student head's
# MaxIoUAssigner. L2 + LSH ("LSHL2"; the authors note LSH alone can give NaN
# losses on RetinaNet), 4096 hash bits (the authors' RetinaNet runs; their
# code's default would be 4 x 2304), beta = 7, std of the teacher's
# classifier weights (the public code's default), median bias (the paper;
# the public detection code uses 0).
# Published on VOC07 (R101 83.0 -> R50 82.5): LSHL2 83.0 mAP. This config is
# COCO and has not been reproduced here.
# student and teacher (mmdet model zoo, 38.9 box AP)
_base_ = ['../_base_/pairs/retinanet_r101_r50_2x_coco.py']
model = dict(distill={
    # which layers: the shared head's last cls conv instead of the FPN,
    # called once per FPN level (five levels, given to the loss together)
    'neck': None,
    'bbox_head.cls_convs.3': dict(
        student='bbox_head.cls_convs.3',
        teacher='bbox_head.cls_convs.3',
        # which loss
        loss=dict(
            type='mmkd.LSHLoss',
            in_channels=256,
            mode='lshl2',
            unfold=3,
            level_reduction='mean',
            anchor_mask_head='bbox_head',
            num_bits=4096,
            std_from='bbox_head.retina_cls.weight',
            bias='median',  # the authors' detection scripts: 'zero'
            loss_weight=7))})
# resolves std_from and computes the median bias before training (512
# vectors per batch, all levels pooled: 50 x 512 x 4096 floats kept)
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
