# Toy CrossKD on GFL: R18-w64 (3 head convs, 128 wide) -> R18-w32 (2 head
# convs, 64 wide) on the synthetic shapes set; the box branch distils GFL's
# side distributions (KL, T = 1, summed over the bins) as CrossKD's GFL
# config does.
_base_ = ['../_base_/pairs/gfl_r18-w64_r18-w32_toy-shapes.py']
model = dict(distill=dict(crosskd=dict(
    student='bbox_head', teacher='bbox_head',
    loss=dict(type='mmkd.CrossKDLoss', head_idx=2,
              loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                            loss_weight=1.0),
              loss_reg=dict(type='mmkd.BoxDistributionKLLoss', T=1.0,
                            class_reduction='sum', loss_weight=4.0)),
    connector=dict(type='mmkd.ConvConnector', in_channels=64,
                   out_channels=128))))
