# Pair: toy Faster R-CNN R18-w64 (teacher) -> R18-w32 (student) on the
# synthetic shapes set, distilled on the five FPN levels, 64 -> 128 channels
# through a 1x1-conv + BN connector per level. The method configs
# (configs/{pkd,lsh}/*_faster-rcnn_r18-w64_r18-w32_toy-shapes.py) set the
# loss; LSH distils the box head instead.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/faster-rcnn_r18-w32_shapes-coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/faster-rcnn_r18-w64_shapes-coco.py
teacher = dict(
    config='{{fileDirname}}/../../toy/faster-rcnn_r18-w64_shapes-coco.py',
    checkpoint='work_dirs/faster-rcnn_r18-w64_shapes-coco/epoch_12.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers -> connector: the five FPN levels, 64 -> 128
             distill=dict(neck=dict(
                 student='neck', teacher='neck', num_levels=5,
                 connector=dict(type='mmkd.ConvConnector', in_channels=64,
                                out_channels=128))))
