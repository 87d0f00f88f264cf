# Students of the mv teacher (data set, validation and test from
# datasets/mv.py). Train the teacher first:
#   python tools/train.py \
#       configs/datafree_regression/teacher_mlp500_mv.py
_base_ = ['./datasets/mv.py', './distill_runtime.py']
# teacher: config + checkpoint
model = dict(in_features=_base_.in_features, teacher=dict(
    config='configs/datafree_regression/teacher_mlp500_mv.py',
    checkpoint='work_dirs/teacher_mlp500_mv/best_teacher.pth'))
