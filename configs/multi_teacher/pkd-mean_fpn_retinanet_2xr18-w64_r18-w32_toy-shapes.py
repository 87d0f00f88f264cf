# Toy PKD from the mean of two teachers (two R18-w64 RetinaNets trained with
# different seeds): the target of each FPN level is the teachers' mean;
# weight 10 as the one-teacher config.
# Train the teachers first (the pair base says how).
# student, teachers, the ensembled FPN levels and their connectors
_base_ = ['../_base_/pairs/retinanet_2xr18-w64_r18-w32_toy-shapes.py']
# which ensemble and loss
model = dict(distill=dict(neck=dict(
    ensemble='mean', loss=dict(type='mmkd.PKDLoss', loss_weight=10))))
