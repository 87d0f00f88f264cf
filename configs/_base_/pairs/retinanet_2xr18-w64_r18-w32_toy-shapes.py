# An ensemble of two checkpoints: two toy RetinaNet R18-w64 teachers trained
# with different seeds (`a`: the pair base's, seed 0; `b`: seed 1) ->
# R18-w32 on the synthetic shapes set, distilled on the five FPN levels of
# both at once: one entry reads the same module of both teachers and learns
# from their ensemble (64 -> 128 channels through a 1x1-conv + BN connector
# per level). The method configs set the loss and the ensemble.
# Train the second teacher first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py \
#       --cfg-options randomness.seed=1 \
#       --work-dir work_dirs/retinanet_r18-w64_shapes-coco_seed1
# student, the mmkd runner and teacher `a` (`teacher`) of its pair base
_base_ = ['./retinanet_r18-w64_r18-w32_toy-shapes.py']
model = dict(
    _delete_=True, type='mmkd.MultiTeacherDistiller',
    student=_base_.model.student,
    teachers=dict(
        a=_base_.teacher,
        b=dict(config=_base_.teacher.config,
               checkpoint='work_dirs/retinanet_r18-w64_shapes-coco_seed1/'
               'epoch_24.pth')),
    # which layers (the same in both teachers) -> connector
    distill=dict(neck=dict(
        student='neck', teacher=['a.neck', 'b.neck'], num_levels=5,
        connector=dict(type='mmkd.ConvConnector', in_channels=64,
                       out_channels=128))))
