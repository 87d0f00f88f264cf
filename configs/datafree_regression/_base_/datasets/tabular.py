# What the three tabular data sets share (each data set's file sets its
# csv file, header and input count): mmkd.TabularRegressionDataset's seeded
# split into 5000 training rows, 10% of the rest for validation and the
# remainder for test, standardised with the training rows' statistics; the
# validation/test loaders and the RMSE metric of ../regression_eval.py read
# these rows.
_base_ = ['../regression_eval.py']
dataset_args = dict(
    type='mmkd.TabularRegressionDataset',
    data_root='${MMKD_DATA_ROOT}/regression',
    target=-1,
    num_train=5000,
    val_ratio=0.1,
    split_seed=0)
val_dataloader = dict(dataset=dataset_args)
test_dataloader = dict(dataset=dataset_args)
