# cpusmall: 12 inputs, target = last column (no header row).
# (file in $MMKD_DATA_ROOT/regression, README "Real data sets")
_base_ = ['./tabular.py']
in_features = 12
dataset_args = dict(ann_file='cpusmall.csv', header=False)
val_dataloader = dict(dataset=dataset_args)
test_dataloader = dict(dataset=dataset_args)
