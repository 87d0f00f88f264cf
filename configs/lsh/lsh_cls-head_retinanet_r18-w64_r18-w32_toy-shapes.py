# Toy LSH feature mimicking: RetinaNet R18-w64 -> R18-w32 on the synthetic
# shapes set, on the last cls-branch conv of the head over the five FPN
# levels (64 -> 128 channels through a 1x1 conv connector, the per-position
# feat_fc), in the authors' RetinaNet form as the COCO config: 3 x 3
# neighbourhoods (1152-d), one mean over all levels, positions whose anchors
# are all ignored left out; LSHL2 with 4096 hash bits. Train the teacher
# first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
# student and teacher
_base_ = ['../_base_/pairs/retinanet_r18-w64_r18-w32_toy-shapes.py']
model = dict(distill={
    # which layers -> connector: the head's last cls conv instead of the FPN
    # (the student head has 2 cls convs, the teacher's 3; both last ones run
    # once per FPN level)
    'neck': None,
    'bbox_head.cls_convs.1-bbox_head.cls_convs.2': dict(
        student='bbox_head.cls_convs.1',
        teacher='bbox_head.cls_convs.2',
        connector=dict(type='mmkd.ConvConnector', in_channels=64,
                       out_channels=128, norm_cfg=None),
        # which loss, as the COCO config lsh_cls-head_retinanet_r101_r50_2x_
        # coco.py but for 128 channels
        loss=dict(type='mmkd.LSHLoss', in_channels=128, mode='lshl2',
                  unfold=3, level_reduction='mean',
                  anchor_mask_head='bbox_head', num_bits=4096,
                  std_from='bbox_head.retina_cls.weight', bias='median',
                  loss_weight=7))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
