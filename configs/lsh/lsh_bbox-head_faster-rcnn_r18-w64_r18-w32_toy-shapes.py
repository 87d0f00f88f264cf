# Toy LSH feature mimicking: Faster R-CNN R18-w64 -> R18-w32 on the synthetic
# shapes set, the box head's RoI feature (256-d student -> 512-d teacher
# through a linear connector, the paper's feat_fc) on the student's sampled
# RoIs, LSHL2 with 4 x 512 hash bits. Train the teacher first:
#   python tools/train.py configs/toy/faster-rcnn_r18-w64_shapes-coco.py
# student
_base_ = ['../toy/faster-rcnn_r18-w32_shapes-coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint
teacher = dict(
    config='{{fileDirname}}/../toy/faster-rcnn_r18-w64_shapes-coco.py',
    checkpoint='work_dirs/faster-rcnn_r18-w64_shapes-coco/epoch_12.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> connector -> which loss
    distill=[
        dict(student='roi_head.bbox_head.shared_fcs.1',
             teacher='roi_head.bbox_head.shared_fcs.1',
             # the teacher's box head runs on the student's sampled RoIs
             teacher_input_from_student=dict(
                 module='roi_head.bbox_roi_extractor', arg=1),
             # post-ReLU, as the authors' torchvision box head gives it
             # (mmdet's shared_fcs.1 is the bare linear layer)
             act_cfg=dict(type='ReLU'),
             connector=dict(type='mmkd.LinearConnector', in_features=256,
                            out_features=512),
             loss=dict(
                 type='mmkd.LSHLoss',
                 in_channels=512,
                 mode='lshl2',
                 num_bits=2048,
                 std_from='roi_head.bbox_head.fc_cls.weight',
                 bias='median',
                 loss_weight=7))
    ])
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
