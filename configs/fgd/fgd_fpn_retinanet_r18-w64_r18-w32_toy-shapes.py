# Toy FGD: RetinaNet R18-w64 -> R18-w32 on the synthetic shapes set, the
# five FPN levels (64 -> 128 channels through a 1x1-conv + BN connector
# per level). Train the teacher first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
# student, teacher, the distilled FPN levels and their connectors
_base_ = ['../_base_/pairs/retinanet_r18-w64_r18-w32_toy-shapes.py']
# which loss
model = dict(distill=dict(neck=dict(
    loss=dict(type='mmkd.FGDLoss', channels=128, temp=0.5, alpha_fgd=1e-3,
              beta_fgd=5e-4, gamma_fgd=5e-4, lambda_fgd=5e-6))))
