# mv: 10 inputs, target = last column.
# (file in $MMKD_DATA_ROOT/regression, README "Real data sets")
_base_ = ['./tabular.py']
in_features = 10
dataset_args = dict(ann_file='mv.csv', header=True)
val_dataloader = dict(dataset=dataset_args)
test_dataloader = dict(dataset=dataset_args)
