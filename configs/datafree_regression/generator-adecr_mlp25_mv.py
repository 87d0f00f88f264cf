# Adversarial generator, a = 1 - (epoch + 1) / E.
_base_ = './_base_/distill_mv.py'

model = dict(
    student=dict(hidden=25),
    strategy='generator',
    mixing=dict(type='decreasing'))
