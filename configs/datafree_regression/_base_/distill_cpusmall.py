# Students of the cpusmall teacher (data set, validation and test from
# datasets/cpusmall.py). Train the teacher first:
#   python tools/train.py \
#       configs/datafree_regression/teacher_mlp500_cpusmall.py
_base_ = ['./datasets/cpusmall.py', './distill_runtime.py']
# teacher: config + checkpoint
model = dict(in_features=_base_.in_features, teacher=dict(
    config='configs/datafree_regression/teacher_mlp500_cpusmall.py',
    checkpoint='work_dirs/teacher_mlp500_cpusmall/best_teacher.pth'))
