# Copyright (c) mmkd contributors. All rights reserved.
"""The teacher check: a teacher evaluated before iteration 1 with the
run's validation pipeline and metric, warnings against the published
number and an untrained student, scalars and a file, no random stream
shifted. Trained teachers (one on another shapes set) and the equality
with tools/test.py: tests/test_teacher_check_trained.py."""
import glob
import json
import math
import os.path as osp

import pytest
import torch
from dense_utils import load, save_untrained, shrink_det_cfg, train

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.distill_hooks import hook_options, with_mmkd_hooks
from mmkd.engine.hooks import TeacherCheckHook
from mmkd.evaluation.teacher_verdict import (TeacherVerdict, metric_scale,
                                             primary_metric)

PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
MEAN = ('configs/multi_teacher/'
        'pkd-mean_fpn_retinanet_2xr18-w64_r18-w32_toy-shapes.py')
TEACHER = 'configs/toy/retinanet_r18-w64_shapes-coco.py'


# ------------------------------------------------------------ the verdict
def test_published_margin_both_directions():
    # 0.41 published, 25% margin: the limit is 0.41 * 0.75 = 0.3075
    fine = TeacherVerdict('teacher', 'coco/bbox_mAP', 0.31, published=0.41)
    low = TeacherVerdict('teacher', 'coco/bbox_mAP', 0.30, published=0.41)
    assert fine.below_published() is None
    assert '27% below' in low.below_published()  # 1 - 0.30 / 0.41 = 0.268
    assert '0.3075' in low.below_published()
    # lower is better: the limit is 0.15 * 1.25 = 0.1875
    ok = TeacherVerdict('teacher', 'rmse', 0.18, lower_is_better=True,
                        published=0.15)
    high = TeacherVerdict('teacher', 'rmse', 0.2, lower_is_better=True,
                          published=0.15)
    assert ok.below_published() is None
    assert '33% above' in high.below_published()


def test_progress_from_the_untrained_model():
    # (0.05 - 0.01) / (1 - 0.01) = 0.0404 < 0.1; (0.2 - 0.01) / 0.99 > 0.1
    weak = TeacherVerdict('teacher', 'coco/bbox_mAP', 0.05, best=1.0,
                          baseline=0.01)
    assert weak.progress == pytest.approx(0.04 / 0.99)
    assert '4.0% of the way' in weak.no_better_than_untrained()
    good = TeacherVerdict('teacher', 'coco/bbox_mAP', 0.2, best=1.0,
                          baseline=0.01)
    assert good.reasons() == []
    # lower is better: (1.0 - 0.95) / (1.0 - 0) = 0.05
    rmse = TeacherVerdict('teacher', 'rmse', 0.95, lower_is_better=True,
                          best=0.0, baseline=1.0)
    assert rmse.progress == pytest.approx(0.05)
    assert rmse.reasons()
    # a metric of unknown range: only "not better at all" warns
    same = TeacherVerdict('teacher', 'my/score', 3.0, baseline=3.0)
    better = TeacherVerdict('teacher', 'my/score', 3.1, baseline=3.0)
    assert same.reasons() and not better.reasons()
    assert TeacherVerdict('teacher', 'mIoU', math.nan).reasons()


def test_metric_keys():
    assert metric_scale('coco/bbox_mAP_50') == (1.0, False)
    assert metric_scale('mIoU') == (100.0, False)
    assert metric_scale('rmse') == (0.0, True)
    assert metric_scale('other') == (None, None)
    metrics = {'aAcc': 90.0, 'mIoU': 40.0, 'mAcc': 50.0}
    assert primary_metric(metrics) == 'mIoU'  # not mmseg's first key
    assert primary_metric(metrics, ['mAcc']) == 'mAcc'
    assert primary_metric({'x': 1.0, 'y': 2.0}, [None]) == 'x'


# ------------------------------------------------------------- settings
def test_one_switch_turns_it_off_and_bad_settings_are_refused():
    cfg = load(PKD)
    assert hook_options(cfg) == {}
    cfg.merge_from_dict({'teacher_check.enable': False})
    hooks = with_mmkd_hooks([], True, hook_options(cfg))
    assert dict(type='mmkd.TeacherCheckHook', enable=False) in hooks
    cfg.teacher_check = False
    with pytest.raises(TypeError, match='teacher_check=dict'):
        hook_options(cfg)
    with pytest.raises(ValueError, match='num_batches'):
        TeacherCheckHook(num_batches=0)
    with pytest.raises(ValueError, match='margin'):
        TeacherCheckHook(margin=1.5)


# ------------------------------------------------------------ in a run
def _pkd_cfg(root, work_dir, ckpt, **options):
    cfg = shrink_det_cfg(load(PKD), root, str(work_dir), max_epochs=1)
    cfg.model.teacher.checkpoint = ckpt
    # mmdet names every visualizer 'visualizer' and the first of a process
    # keeps its work dir: each run its own scalars
    cfg.visualizer.name = f'teacher_check_{work_dir}'
    cfg.merge_from_dict(options)
    return cfg


@pytest.fixture(scope='module')
def untrained_ckpt(tmp_path_factory):
    """Freshly initialised weights of the teacher's architecture, as
    torch initialises its layers (no focal-loss prior: every anchor scores
    about 0.5, the teacher detects plenty, all wrong)."""
    return save_untrained(TEACHER,
                          tmp_path_factory.mktemp('untrained') / 'teacher.pth')


@pytest.fixture(scope='module')
def checked_run(coco_shapes_root, untrained_ckpt, tmp_path_factory):
    """A one-epoch toy PKD run from an untrained teacher, checked."""
    work = tmp_path_factory.mktemp('checked')
    runner = train(_pkd_cfg(coco_shapes_root, work, untrained_ckpt))
    return runner, str(work)


def _hook(runner) -> TeacherCheckHook:
    return next(h for h in runner.hooks if isinstance(h, TeacherCheckHook))


def _log_text(work_dir: str) -> str:
    log = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))[-1]
    with open(log) as f:
        return f.read()


def test_an_untrained_teacher_warns_before_iteration_1(checked_run):
    runner, work = checked_run
    hook = _hook(runner)
    assert len(hook.warnings) == 1
    value = hook.result['teachers']['teacher']['metrics']['coco/bbox_mAP']
    baseline = hook.result['untrained_student']['coco/bbox_mAP']
    assert value < 0.597 * 0.75
    message = hook.warnings[0]
    # the metric, the published number and the untrained student
    assert f'teacher scores coco/bbox_mAP = {value:.4g} on 4 of 4' in \
        message
    assert 'below the measured box AP 0.597 of toy RetinaNet R18-w64' in \
        message
    assert f'the untrained student scores {baseline:.4g}' in message
    assert 'teacher_check.enable=False' in message
    text = _log_text(work)
    assert text.index('does not look worth learning from') < \
        text.index('Epoch(train)')
    # every image of the tiny set (4), judged by the entry's key
    assert hook.result['images'] == '4 of 4 validation samples'
    assert hook.result['metric'] == 'coco/bbox_mAP'
    assert hook.result['teachers']['teacher']['warned']


def test_a_teacher_that_detects_nothing_warns(coco_shapes_root, tmp_path):
    """mmdet's own initialisation (the focal-loss prior) scores every
    anchor about 0.01, under the teacher's score_thr 0.05: nothing is
    detected and CocoMetric reports no mAP at all; the warning says so
    beside the published number and the student's."""
    ckpt = save_untrained(TEACHER, tmp_path / 'mmdet_init.pth', init=True)
    runner = _runner(_pkd_cfg(coco_shapes_root, tmp_path, ckpt))
    runner.call_hook('before_train')
    hook = _hook(runner)
    assert hook.result['teachers']['teacher']['metrics'] == {}
    message = hook.warnings[0]
    assert 'teacher scores coco/bbox_mAP = nan' in message
    assert 'the metric scored no predictions' in message
    assert 'the measured box AP 0.597 of toy RetinaNet R18-w64' in message
    assert 'the untrained student: ' in message


def test_the_result_is_in_the_scalars_and_the_work_dir(checked_run):
    runner, work = checked_run
    run_dir = runner.log_dir
    with open(osp.join(run_dir, 'teacher_check.json')) as f:
        saved = json.load(f)
    measured = saved['teachers']['teacher']['metrics']
    assert measured == _hook(runner).result['teachers']['teacher']['metrics']
    scalars = {}
    with open(osp.join(run_dir, 'vis_data', 'scalars.json')) as f:
        for line in f:
            scalars.update(json.loads(line))
    assert scalars['teacher_check/teacher/coco/bbox_mAP'] == \
        measured['coco/bbox_mAP']
    assert 'teacher_check/untrained_student/coco/bbox_mAP' in scalars


def test_compare_to_paper_shows_the_measured_teacher(checked_run):
    import sys
    sys.path.insert(
        0,
        osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools'))
    from compare_to_paper import compare
    runner, work = checked_run
    report = compare(work)
    measured = _hook(runner).result['teachers']['teacher']['metrics']
    row = next(line for line in report.splitlines()
               if line.startswith('| teacher:'))
    # published 0.597, then the gap, then the check's number
    assert row.split('|')[2].strip() == '0.597'
    assert row.split('|')[4].strip() == f'{measured["coco/bbox_mAP"]:.3f}'
    assert 'measured by the teacher check' in report
    assert 'teacher check: measured on 4 of 4 validation samples' in report
    assert 'it warned about teacher' in report


def test_the_check_shifts_no_random_stream(coco_shapes_root, untrained_ckpt,
                                           checked_run, tmp_path):
    """The same run with the check off ends with the same weights, bit for
    bit (the random flips, the data order, the initialisation)."""
    checked, _ = checked_run
    off = train(
        _pkd_cfg(coco_shapes_root, tmp_path, untrained_ckpt,
                 **{'teacher_check.enable': False}))
    assert _hook(off).result is None
    assert 'Teacher check: off' in _log_text(str(tmp_path))
    a, b = checked.model.state_dict(), off.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def _runner(cfg):
    cfg = prepare_train_cfg(cfg, work_dir=cfg.work_dir)
    return build_runner(cfg)


def test_no_validation_data_skips_with_one_line(coco_shapes_root,
                                                untrained_ckpt, tmp_path):
    cfg = _pkd_cfg(coco_shapes_root, tmp_path, untrained_ckpt)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    runner = _runner(cfg)
    runner.call_hook('before_train')
    assert _hook(runner).result is None
    lines = [
        line for line in _log_text(str(tmp_path)).splitlines()
        if 'Teacher check' in line
    ]
    assert len(lines) == 1 and 'skipped, the config has no validation' \
        in lines[0]


def test_several_teachers_are_each_checked(coco_shapes_root, untrained_ckpt,
                                           tmp_path):
    cfg = shrink_det_cfg(load(MEAN), coco_shapes_root, str(tmp_path))
    for name in ('a', 'b'):
        cfg.model.teachers[name].checkpoint = untrained_ckpt
    runner = _runner(cfg)
    runner.call_hook('before_train')
    hook = _hook(runner)
    assert sorted(hook.result['teachers']) == ['teacher.a', 'teacher.b']
    assert len(hook.warnings) == 2
    assert "teacher 'a' scores coco/bbox_mAP" in hook.warnings[0]
    assert "teacher 'b' scores coco/bbox_mAP" in hook.warnings[1]
    # both untrained teachers are the same checkpoint: the same numbers
    a, b = (
        hook.result['teachers'][k]['metrics']
        for k in ('teacher.a', 'teacher.b'))
    assert a == b


def test_a_subset_is_spread_over_the_set_and_coco_counts_only_it(
        coco_shapes_root, untrained_ckpt, tmp_path):
    """One batch of 2 of the 4 images: CocoMetric is told their ids (it
    would otherwise count the 2 others as missed), so the teacher's
    metric equals an evaluation of a set that has only those images."""
    from mmkd.engine.val_subset import ValSubset
    cfg = _pkd_cfg(coco_shapes_root, tmp_path, untrained_ckpt)
    cfg.val_dataloader.batch_size = 2
    runner = _runner(cfg)
    subset = ValSubset(runner.val_loop, num_batches=1)
    assert subset.indices == [0, 2] and not subset.whole
    assert subset.describe() == '2 of 4 validation samples'
    evaluator = subset.evaluator(runner)
    assert evaluator.metrics[0].img_ids == [
        subset.image_id(0), subset.image_id(2)
    ]


def test_a_check_that_fails_warns_and_the_run_goes_on(coco_shapes_root,
                                                      untrained_ckpt,
                                                      tmp_path):
    """A validation set the teacher cannot be evaluated on (here an
    annotation file CocoMetric cannot read) is a warning, not an error."""
    cfg = _pkd_cfg(coco_shapes_root, tmp_path, untrained_ckpt)
    runner = _runner(cfg)
    runner.cfg.val_evaluator = dict(type='CocoMetric',
                                    ann_file=str(tmp_path / 'missing.json'))
    runner.call_hook('before_train')
    hook = _hook(runner)
    assert hook.result is None
    assert 'Teacher check: could not evaluate the teacher(s)' in \
        hook.warnings[0]
    assert 'missing.json' in hook.warnings[0]
