# Toy PKD from an uncertainty-weighted ensemble of two teachers, in AKD's
# terms: the two real teachers take the avatars' place (their spread per
# channel is the uncertainty both sides are divided by, PKD is applied to
# each teacher and averaged).
_base_ = ['./pkd-mean_fpn_retinanet_2xr18-w64_r18-w32_toy-shapes.py']
model = dict(distill=dict(neck=dict(ensemble='uncertainty')))
