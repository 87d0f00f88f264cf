# Baseline: Gaussian samples only (a = 0). Batch 100 = the 50 + 50 samples
# of the mixed strategies (as in the authors' code).
_base_ = './_base_/distill_mv.py'

model = dict(student=dict(hidden=50), strategy='gaussian', batch_size=100)
