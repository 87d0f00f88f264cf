# Copyright (c) mmkd contributors. All rights reserved.
"""`make demo`'s pipeline end to end at a minimal size."""
import json
import os.path as osp

import pytest

from demo.pipeline import run_demo


@pytest.mark.e2e
@pytest.mark.parametrize('task', ['det', 'seg'])
def test_demo_pipeline_end_to_end(task, tmp_path, capsys):
    work_dir = str(tmp_path / 'demo')
    out = run_demo(task, work_dir=work_dir, data_root=str(tmp_path / 'data'),
                   quick=True)
    base = dict(det='PKD', seg='CWD')[task]
    assert [r['name'] for r in out['results']] == [
        'teacher', 'student alone', f'{base} (base)', f'AKD over {base}'
    ]
    for line in out['table'].splitlines()[2:]:
        assert line.startswith('| ') and line.endswith(' min |')
    assert osp.getsize(out['plot']) > 1000
    assert osp.getsize(out['avatars']) > 1000
    printed = capsys.readouterr().out
    assert out['table'] in printed and 'avatars.png' in printed
    # distillation losses were recorded for the distilled runs only
    akd = json.load(open(osp.join(work_dir, 'student_2', 'demo_result.json')))
    assert akd['history'][[
        k for k in akd['history'] if k.startswith('distill')
    ][0]]
    # a second run reuses every finished step
    before = osp.getmtime(osp.join(work_dir, 'teacher', 'demo_result.json'))
    run_demo(task, work_dir=work_dir, data_root=str(tmp_path / 'data'),
             quick=True)
    assert 'finished before' in capsys.readouterr().out
    assert osp.getmtime(osp.join(work_dir, 'teacher',
                                 'demo_result.json')) == before


def test_distill_options_reach_the_distillation_runs_only(tmp_path):
    from demo.pipeline import DEMO_PRESETS, configure
    preset = DEMO_PRESETS['det']
    size = preset['quick']
    options = {'model.teacher_exec.memory_format': 'contiguous'}
    common = dict(
        data_root=str(tmp_path), work_dir=str(tmp_path / 'w'), size=size,
        seed=0, distill_options=options)
    distill = configure('det', preset['runs'][1][1], teacher=False,
                        teacher_ckpt='teacher.pth', **common)
    assert distill.model.teacher_exec.memory_format == 'contiguous'
    for path, teacher in ((preset['teacher'], True), (preset['runs'][0][1],
                                                      False)):  # no teacher
        cfg = configure('det', path, teacher=teacher, teacher_ckpt=None,
                        **common)
        assert 'teacher_exec' not in cfg.model
