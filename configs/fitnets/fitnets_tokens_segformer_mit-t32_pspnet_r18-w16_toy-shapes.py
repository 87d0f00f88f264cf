# Toy FitNets hint from a transformer's tokens: the last MiT stage of the
# Segformer MiT-t32 teacher (B x N x 256 tokens, stride 32) to the PSPNet
# R18-w16 student's last ResNet stage (a B x 128 x H/8 x W/8 map): the
# tokens become a map (its grid's aspect from the student map), the student
# map is resized to it and mapped to 256 channels (1x1 conv + BN).
# Train the teacher first:
#   python tools/train.py configs/toy/segformer_mit-t32_shapes-cityscapes.py
# student and teacher (the pair's logits entry dropped)
_base_ = ['../_base_/pairs/segformer_mit-t32_pspnet_r18-w16_toy-shapes.py']
# which layers -> how they line up -> which loss
model = dict(distill={
    'decode_head.conv_seg': None,
    'tokens': dict(
        student='backbone.layer4', teacher='backbone.layers.3.2',
        teacher_connector=dict(type='mmkd.TokensToMap'),
        connector=dict(type='mmkd.ConnectorChain', connectors=[
            dict(type='mmkd.ResizeConnector'),
            dict(type='mmkd.ConvConnector', in_channels=128,
                 out_channels=256)]),
        loss=dict(type='mmkd.FeatureMSELoss', loss_weight=1.0))})
