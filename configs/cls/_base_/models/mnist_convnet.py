# MnistConvNet classifier; the defaults are the benchmark's teacher
# (channels 32-64, hidden 128: 421,738 parameters).
model = dict(
    type='mmkd.ImageClassifier',
    # MNIST pixel mean / std (0.1307, 0.3081) x 255
    data_preprocessor=dict(
        type='ImgDataPreprocessor', mean=[33.32], std=[78.57]),
    backbone=dict(type='mmkd.MnistConvNet', channels=(32, 64), hidden=128),
    head=dict(
        type='mmkd.LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='mmkd.CrossEntropyLoss', loss_weight=1.0)))
