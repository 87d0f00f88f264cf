# Pair: toy RetinaNet Swin-t32 (transformer teacher, FPN strides 4-64, 96
# channels) -> R18-w32 (student, FPN strides 8-128, 64 channels) on the
# synthetic shapes set, distilled on FPN levels 0-3 as PKD's Swin recipe:
# student level k with teacher level k, the student map resized to the
# teacher's and its channels mapped by a 1x1 conv + BN.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/retinanet_r18-w32_shapes-coco.py', '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/retinanet_swin-t32_shapes-coco.py
teacher = dict(
    config='{{fileDirname}}/../../toy/retinanet_swin-t32_shapes-coco.py',
    checkpoint='work_dirs/retinanet_swin-t32_shapes-coco/epoch_24.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers -> how they line up: levels 0-3 paired,
             # resized to the teacher's H x W, 64 -> 96 channels
             distill=dict(neck=dict(
                 student='neck', teacher='neck', num_levels=4,
                 student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
                 connector=dict(type='mmkd.ConnectorChain', connectors=[
                     dict(type='mmkd.ResizeConnector'),
                     dict(type='mmkd.ConvConnector', in_channels=64,
                          out_channels=96)]))))
