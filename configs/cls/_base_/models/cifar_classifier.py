# CIFAR-100 classifier: a CIFAR zoo backbone (set by each model config),
# global average pooling and a linear head. Inputs are RGB, normalised with
# the CIFAR-100 mean / std of the CRD code
# ((0.5071, 0.4867, 0.4408) and (0.2675, 0.2565, 0.2761), x 255).
model = dict(
    type='mmkd.ImageClassifier',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[129.31, 124.11, 112.40],
        std=[68.21, 65.41, 70.41]),
    neck=dict(type='mmkd.GlobalAveragePooling'),
    head=dict(
        type='mmkd.LinearClsHead',
        num_classes=100,
        loss=dict(type='mmkd.CrossEntropyLoss', loss_weight=1.0)))
