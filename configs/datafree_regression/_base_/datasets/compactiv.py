# compactiv: 21 inputs, target = last column.
# (file in $MMKD_DATA_ROOT/regression, README "Real data sets")
in_features = 21
dataset_args = dict(
    type='mmkd.TabularRegressionDataset',
    data_root='${MMKD_DATA_ROOT}/regression',
    ann_file='compactiv.csv',
    header=True,
    target=-1,
    num_train=5000,
    val_ratio=0.1,
    split_seed=0)
