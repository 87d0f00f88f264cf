# Pair: toy GFL R18-w64 (teacher) -> R18-w32 (student) on the synthetic
# shapes set. The method configs (configs/crosskd/*_gfl_r18-w64_r18-w32_
# toy-shapes.py) set the entries.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/gfl_r18-w32_shapes-coco.py', '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/gfl_r18-w64_shapes-coco.py
teacher = dict(
    config='{{fileDirname}}/../../toy/gfl_r18-w64_shapes-coco.py',
    checkpoint='work_dirs/gfl_r18-w64_shapes-coco/epoch_24.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher, distill=dict())
