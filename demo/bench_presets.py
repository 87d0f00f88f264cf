# Copyright (c) mmkd contributors. All rights reserved.
"""What `make bench-dense` runs: the tasks, their runs, seeds, sizes and the
AKD options ablated (:mod:`demo.bench_dense`). A task's ``data`` is the
kind of data set and schedule it trains on (``'det'``: the shapes
detection set, epochs; ``'seg'``: the Cityscapes-layout set,
iterations)."""
from .pipeline import DEMO_PRESETS

DATA_SEED = 0
TEACHER_SEED = 0

# the AKD options ablated (each changes one option of the default AKD row:
# N = 8 avatars, p = 0.1, per-channel uncertainty, dropout avatars)
ABLATIONS = (
    ('N=1', dict(num_avatars=1)),
    ('N=4', dict(num_avatars=4)),
    ('p=0.05', dict(drop_prob=0.05)),
    ('p=0.2', dict(drop_prob=0.2)),
    ('uncertainty=none', dict(uncertainty='none')),
    ('uncertainty=batchnorm', dict(uncertainty='batchnorm')),
    ('perturbation=gaussian', dict(perturbation='gaussian')),
)

BENCH_PRESETS = {
    'det':
    dict(
        data='det', teacher=DEMO_PRESETS['det']['teacher'], runs=dict(
            student=('student alone',
                     'configs/toy/retinanet_r18-w32_shapes-coco.py'),
            pkd=('PKD', 'configs/pkd/'
                 'pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'), **{
                     'akd-pkd': ('AKD over PKD', 'configs/akd/'
                                 'akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-'
                                 'shapes.py')
                 }, cwd=('CWD', 'configs/cwd/'
                         'cwd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
            **{
                'akd-cwd': ('AKD over CWD', 'configs/akd/'
                            'akd-cwd_fpn_retinanet_r18-w64_r18-w32_toy-'
                            'shapes.py')
            }), pairs={
                'akd-pkd': 'pkd',
                'akd-cwd': 'cwd'
            }, metrics=DEMO_PRESETS['det']['metrics'], seeds=5,
        full=dict(num_train=128, num_val=64, img=64, batch=8,
                  teacher_epochs=30, student_epochs=10, val_every=None,
                  log_every=10),
        quick=dict(num_train=8, num_val=4, img=64, batch=4, teacher_epochs=1,
                   student_epochs=1, val_every=None, log_every=1)),
    'seg':
    dict(
        data='seg', teacher=DEMO_PRESETS['seg']['teacher'], runs=dict(
            student=('student alone',
                     'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'),
            cwd=('CWD', 'configs/cwd/'
                 'cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'), **{
                     'akd-cwd': ('AKD over CWD', 'configs/akd/'
                                 'akd-cwd_logits_pspnet_r18-w32_r18-w16_toy-'
                                 'shapes.py')
                 }), pairs={'akd-cwd':
                            'cwd'}, metrics=DEMO_PRESETS['seg']['metrics'],
        seeds=3, full=dict(num_train=48, num_val=16, img=(64, 128), batch=4,
                           teacher_iters=400, student_iters=150,
                           val_every=None, log_every=10),
        quick=dict(num_train=4, num_val=2, img=(64, 128), batch=2,
                   teacher_iters=2, student_iters=2, val_every=None,
                   log_every=1)),
}

# head-level distillation on the detection task's pair, set and schedule:
# CrossKD (the student's head feature through the teacher's head) alone
# and beside PKD, against the student alone and PKD
BENCH_PRESETS['crosskd'] = dict(
    BENCH_PRESETS['det'], runs=dict(
        student=BENCH_PRESETS['det']['runs']['student'],
        pkd=BENCH_PRESETS['det']['runs']['pkd'],
        crosskd=('CrossKD', 'configs/crosskd/'
                 'crosskd_head_retinanet_r18-w64_r18-w32_toy-shapes.py'), **{
                     'crosskd-pkd':
                     ('CrossKD + PKD', 'configs/crosskd/'
                      'crosskd-pkd_head_retinanet_r18-w64_r18-w32_toy-'
                      'shapes.py')
                 }), pairs={
                     'crosskd': 'student',
                     'crosskd-pkd': 'pkd'
                 })

# several teachers on the detection task's pair, set and schedule: two toy
# R18-w64 RetinaNet teachers trained with two seeds (`a`, the detection
# task's, and `b`), PKD from each, from their mean and from their
# uncertainty-weighted ensemble (AKD's formula, the real teachers in the
# avatars' place), and AKD's avatars of the better teacher (the higher AP);
# a run's third element names its teacher(s): one of `teacher_seeds`,
# 'all' (a several-teacher config) or 'best'
_MULTI = 'configs/multi_teacher/pkd-{}_fpn_retinanet_2xr18-w64_r18-w32_toy-' \
    'shapes.py'
BENCH_PRESETS['teachers'] = dict(
    BENCH_PRESETS['det'],
    teacher_seeds=dict(a=TEACHER_SEED, b=TEACHER_SEED + 1), runs={
        'student':
        BENCH_PRESETS['det']['runs']['student'],
        'pkd-a':
        ('PKD from teacher a', BENCH_PRESETS['det']['runs']['pkd'][1], 'a'),
        'pkd-b':
        ('PKD from teacher b', BENCH_PRESETS['det']['runs']['pkd'][1], 'b'),
        'pkd-mean':
        ('PKD from the mean of a and b', _MULTI.format('mean'), 'all'),
        'pkd-uncertainty': ('PKD from the uncertainty ensemble of a and b',
                            _MULTI.format('uncertainty'), 'all'),
        'akd-pkd-best': ('AKD over PKD from the better teacher',
                         BENCH_PRESETS['det']['runs']['akd-pkd'][1], 'best'),
    }, pairs={
        'pkd-mean': ('pkd-a', 'pkd-b', 'akd-pkd-best'),
        'pkd-uncertainty': ('pkd-a', 'pkd-b', 'akd-pkd-best', 'pkd-mean'),
    })


def teacher_seeds(task: str) -> dict:
    """``{teacher name: seed}`` of a task (one teacher: ``'teacher'``)."""
    return BENCH_PRESETS[task].get('teacher_seeds', dict(teacher=TEACHER_SEED))


def run_teachers(task: str, kind: str) -> str:
    """Which teacher(s) a run learns from (see the ``teachers`` task)."""
    spec = BENCH_PRESETS[task]['runs'][kind]
    return spec[2] if len(spec) > 2 else 'teacher'


def pair_bases(task: str, kind: str) -> tuple:
    """The runs ``kind`` is compared with, seed by seed."""
    bases = BENCH_PRESETS[task]['pairs'].get(kind, ())
    return (bases, ) if isinstance(bases, str) else tuple(bases)
