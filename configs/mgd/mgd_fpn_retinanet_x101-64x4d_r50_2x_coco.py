# MGD (Yang et al., ECCV 2022) on the five FPN levels, one generation block
# per level. Target (METHODS.md): RetinaNet X101 (41.0) -> R50 2x: 41.0 AP.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/retinanet_x101-64x4d_r50_2x_coco.py']
# which levels (all five) and loss
model = dict(distill=dict(neck=dict(
    num_levels=5,
    loss=dict(type='mmkd.MGDLoss', channels=256, alpha_mgd=2e-5,
              lambda_mgd=0.65))))
# the published recipe clips gradients (max norm 35)
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
