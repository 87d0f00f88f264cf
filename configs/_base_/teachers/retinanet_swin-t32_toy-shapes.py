# Teacher: the toy RetinaNet Swin-t32 (shapes set), its config and the last
# checkpoint of its 24-epoch training, under a name of its own so that a
# config with several teachers can take it beside another pair's teacher.
# Train it first:
#   python tools/train.py configs/toy/retinanet_swin-t32_shapes-coco.py
swin_t32_teacher = dict(
    config='{{fileDirname}}/../../toy/retinanet_swin-t32_shapes-coco.py',
    checkpoint='work_dirs/retinanet_swin-t32_shapes-coco/epoch_24.pth')
