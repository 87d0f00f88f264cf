# Adversarial generator, a = 1 (synthetic samples only). Batch 100 = the
# 50 + 50 samples of the mixed strategies (as in the authors' code).
_base_ = './_base_/distill_mv.py'

model = dict(
    student=dict(hidden=50),
    strategy='generator',
    mixing=dict(type='fixed', value=1.0),
    batch_size=100)
