# Students of the cpusmall teacher. Train the teacher first:
#   python tools/train.py \
#       configs/datafree_regression/teacher_mlp500_cpusmall.py
_base_ = ['./datasets/cpusmall.py', './distill_runtime.py']

model = dict(
    in_features=_base_.in_features,
    teacher=dict(
        config='configs/datafree_regression/teacher_mlp500_cpusmall.py',
        checkpoint='work_dirs/teacher_mlp500_cpusmall/best_teacher.pth'))
val_dataloader = dict(dataset=_base_.dataset_args)
test_dataloader = dict(dataset=_base_.dataset_args)
