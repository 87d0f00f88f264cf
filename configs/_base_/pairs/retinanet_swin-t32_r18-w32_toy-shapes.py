# Pair: toy RetinaNet Swin-t32 (transformer teacher, FPN strides 4-64, 96
# channels) -> R18-w32 (student, FPN strides 8-128, 64 channels) on the
# synthetic shapes set, distilled on FPN levels 0-3 as PKD's Swin recipe:
# student level k with teacher level k, the student map resized to the
# teacher's and its channels mapped by a 1x1 conv + BN.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/retinanet_r18-w32_shapes-coco.py', '../mmkd_runtime.py',
          '../teachers/retinanet_swin-t32_toy-shapes.py']  # the teacher
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.swin_t32_teacher,
             # which layers -> how they line up: levels 0-3 paired,
             # resized to the teacher's H x W, 64 -> 96 channels
             distill=dict(neck=dict(
                 student='neck', teacher='neck', num_levels=4,
                 student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
                 connector=dict(type='mmkd.ConnectorChain', connectors=[
                     dict(type='mmkd.ResizeConnector'),
                     dict(type='mmkd.ConvConnector', in_channels=64,
                          out_channels=96)]))))
