# Pair: toy RetinaNet R18-w64 (teacher) -> R18-w32 (student) on the synthetic
# shapes set, distilled on the five FPN levels, 64 -> 128 channels through a
# 1x1-conv + BN connector per level. The method configs
# (configs/{akd,cwd,fgd,fitnets,mgd,pkd}/*_fpn_retinanet_r18-w64_r18-w32_
# toy-shapes.py) set the loss; LSH distils a head conv instead.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/retinanet_r18-w32_shapes-coco.py', '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
teacher = dict(
    config='{{fileDirname}}/../../toy/retinanet_r18-w64_shapes-coco.py',
    checkpoint='work_dirs/retinanet_r18-w64_shapes-coco/epoch_24.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers -> connector: the five FPN levels, 64 -> 128
             distill=dict(neck=dict(
                 student='neck', teacher='neck', num_levels=5,
                 connector=dict(type='mmkd.ConvConnector', in_channels=64,
                                out_channels=128))))
