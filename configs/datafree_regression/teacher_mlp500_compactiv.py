# The supervised teacher of the compactiv students
# (./_base_/teacher_runtime.py); data, validation and test:
# ./_base_/datasets/compactiv.py.
_base_ = ['./_base_/datasets/compactiv.py', './_base_/teacher_runtime.py']

model = dict(in_features=_base_.in_features)
train_dataloader = dict(dataset=_base_.dataset_args)
