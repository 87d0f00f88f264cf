# FGD (Yang et al., CVPR 2022) on the five FPN levels (focal + global, with
# the ground-truth boxes), one set of FGD blocks per level.
# Target (METHODS.md): RetinaNet X101 (41.0) -> R50 2x: 40.7 AP.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/retinanet_x101-64x4d_r50_2x_coco.py']
# which levels (all five) and loss
model = dict(distill=dict(neck=dict(
    num_levels=5,
    loss=dict(type='mmkd.FGDLoss', channels=256, temp=0.5, alpha_fgd=1e-3,
              beta_fgd=5e-4, gamma_fgd=5e-4, lambda_fgd=5e-6))))
# the published recipe clips gradients (max norm 35)
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
