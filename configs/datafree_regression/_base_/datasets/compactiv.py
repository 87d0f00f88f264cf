# compactiv: 21 inputs, target = last column.
# (file in $MMKD_DATA_ROOT/regression, README "Real data sets")
_base_ = ['./tabular.py']
in_features = 21
dataset_args = dict(ann_file='compactiv.csv', header=True)
val_dataloader = dict(dataset=dataset_args)
test_dataloader = dict(dataset=dataset_args)
