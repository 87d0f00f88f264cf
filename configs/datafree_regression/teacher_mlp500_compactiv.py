_base_ = ['./_base_/datasets/compactiv.py', './_base_/teacher_runtime.py']

model = dict(in_features=_base_.in_features)
train_dataloader = dict(dataset=_base_.dataset_args)
val_dataloader = dict(dataset=_base_.dataset_args)
test_dataloader = dict(dataset=_base_.dataset_args)
