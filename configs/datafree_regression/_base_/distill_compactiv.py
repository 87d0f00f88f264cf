# Students of the compactiv teacher. Train the teacher first:
#   python tools/train.py \
#       configs/datafree_regression/teacher_mlp500_compactiv.py
_base_ = ['./datasets/compactiv.py', './distill_runtime.py']

model = dict(
    in_features=_base_.in_features,
    teacher=dict(
        config='configs/datafree_regression/teacher_mlp500_compactiv.py',
        checkpoint='work_dirs/teacher_mlp500_compactiv/best_teacher.pth'))
val_dataloader = dict(dataset=_base_.dataset_args)
test_dataloader = dict(dataset=_base_.dataset_args)
