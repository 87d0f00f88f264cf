# Students of the compactiv teacher (data set, validation and test from
# datasets/compactiv.py). Train the teacher first:
#   python tools/train.py \
#       configs/datafree_regression/teacher_mlp500_compactiv.py
_base_ = ['./datasets/compactiv.py', './distill_runtime.py']
# teacher: config + checkpoint
model = dict(in_features=_base_.in_features, teacher=dict(
    config='configs/datafree_regression/teacher_mlp500_compactiv.py',
    checkpoint='work_dirs/teacher_mlp500_compactiv/best_teacher.pth'))
