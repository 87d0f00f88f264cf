# Toy LSH feature mimicking: Faster R-CNN R18-w64 -> R18-w32 on the synthetic
# shapes set, the box head's RoI feature (256-d student -> 512-d teacher
# through a linear connector, the paper's feat_fc) on the student's sampled
# RoIs, LSHL2 with 4 x 512 hash bits. Train the teacher first:
#   python tools/train.py configs/toy/faster-rcnn_r18-w64_shapes-coco.py
# student and teacher
_base_ = ['../_base_/pairs/faster-rcnn_r18-w64_r18-w32_toy-shapes.py']
model = dict(distill={
    # which layers -> connector: the box head's RoI feature instead of the
    # FPN, as the COCO config lsh_bbox-head_faster-rcnn_r101_r50_2x_coco.py
    # (the teacher's box head on the student's sampled RoIs, post-ReLU)
    'neck': None,
    'roi_head.bbox_head.shared_fcs.1': dict(
        student='roi_head.bbox_head.shared_fcs.1',
        teacher='roi_head.bbox_head.shared_fcs.1',
        teacher_input_from_student=dict(
            module='roi_head.bbox_roi_extractor', arg=1),
        act_cfg=dict(type='ReLU'),
        connector=dict(
            type='mmkd.LinearConnector', in_features=256, out_features=512),
        # which loss
        loss=dict(type='mmkd.LSHLoss', in_channels=512, mode='lshl2',
                  num_bits=2048,
                  std_from='roi_head.bbox_head.fc_cls.weight',
                  bias='median', loss_weight=7))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
