# LSH feature mimicking (LSHFM; Wang, Ge and Wu, arXiv 2011.01424) on the
# RetinaNet head: at every position of every FPN level the student mimics
# the teacher's 256-d feature after the last classification-branch conv,
# with L2 + LSH ("LSHL2"; the authors note LSH alone can give NaN losses on
# RetinaNet): 4096 hash bits, beta = 7, std of the teacher's classifier
# weights (the public code's default), median bias.
# Published on VOC07 (R101 83.0 -> R50 82.5): LSHL2 83.0 mAP. This config is
# COCO and has not been reproduced here.
# student
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py']
# teacher: config + checkpoint (mmdet model zoo, 38.9 box AP)
teacher = dict(
    config='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss: the shared head's last cls conv, called
    # once per FPN level (five levels, one loss)
    distill=[
        dict(student='bbox_head.cls_convs.3',
             teacher='bbox_head.cls_convs.3',
             loss=dict(
                 type='mmkd.LSHLoss',
                 in_channels=256,
                 mode='lshl2',
                 num_bits=4096,
                 std_from='bbox_head.retina_cls.weight',
                 bias='median',  # the authors' detection scripts: 'zero'
                 loss_weight=7))
    ])
# resolves std_from and computes the median bias before training (128
# positions per level and batch: 50 x 5 x 128 x 4096 floats kept)
custom_hooks = [
    dict(type='mmkd.LSHMedianBiasHook', max_vectors_per_batch=128)
]
