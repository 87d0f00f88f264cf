# LSH feature mimicking (LSHFM; Wang, Ge and Wu, arXiv 2011.01424) on the
# Faster R-CNN box head: the student mimics the teacher's 1024-d RoI feature
# (the second shared fc of the box head) on the same boxes, the student's
# sampled RoIs, with L2 + LSH ("LSHL2"): 4096 hash bits, beta = 7, std of
# the teacher's classifier weights (the public code's default), median bias.
# Published on VOC07 (R101 83.6 -> R50 82.0): LSHL2 83.0 mAP. This config is
# COCO and has not been reproduced here.
# student and teacher (mmdet model zoo, 39.8 box AP)
_base_ = ['../_base_/pairs/faster-rcnn_r101_r50_2x_coco.py']
model = dict(distill={
    # which layers: the box head's RoI feature instead of the FPN
    'neck': None,
    'roi_head.bbox_head.shared_fcs.1': dict(
        student='roi_head.bbox_head.shared_fcs.1',
        teacher='roi_head.bbox_head.shared_fcs.1',
        # the teacher's box head runs on the student's sampled RoIs
        # (argument 1 of the RoI extractor), so both describe the same
        # boxes
        teacher_input_from_student=dict(
            module='roi_head.bbox_roi_extractor', arg=1),
        # post-ReLU, as the authors' torchvision box head gives it
        # (mmdet's shared_fcs.1 is the bare linear layer)
        act_cfg=dict(type='ReLU'),
        # which loss
        loss=dict(
            type='mmkd.LSHLoss',
            in_channels=1024,
            mode='lshl2',
            num_bits=4096,
            std_from='roi_head.bbox_head.fc_cls.weight',
            bias='median',  # the authors' detection scripts: 'zero'
            loss_weight=7))})
# resolves std_from and computes the median bias before training
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
