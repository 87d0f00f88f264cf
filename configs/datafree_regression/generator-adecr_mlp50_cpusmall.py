# Adversarial generator, a = 1 - (epoch + 1) / E.
_base_ = './_base_/distill_cpusmall.py'

model = dict(
    student=dict(hidden=50),
    strategy='generator',
    mixing=dict(type='decreasing'))
