# Copyright (c) mmkd contributors. All rights reserved.
"""What the metafiles' notes and the recipe guard's fixes tell a user is
true: a note's "this config stacks AKD on X (weight w)" is the base loss
the config builds (read from the loaded config, its ``_base_`` chain
resolved), its "the published number uses Y" is the base the method's
README table gives for the paper's setting of that row; and the
learning-rate fix the guard gives works through mmseg's own
tools/train.py (run as its pip package ships it)."""
import os.path as osp
import re

import pytest
from launch_utils import (CWD_SEG, SEG_TEACHER, cli, fresh_teacher_ckpt,
                          package_train_script, python, repo_path, run,
                          seg_options)

from mmkd.utils import load_config
from mmkd.utils.metafile import RunRecipe, guard_message, load_recipes

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIG_DIR = osp.join(REPO, 'configs')
ENTRIES = sorted(load_recipes(CONFIG_DIR).values(), key=lambda e: e.config)
NOTED = [e for e in ENTRIES if e.note and 'base distiller' in e.note]
DISTILLERS = ('MasKD', 'CWD', 'PKD', 'MGD', 'FGD', 'FitNets', 'MSE')
SETTING = "paper's setting; where mmkd differs"


def _config_bases(config: str) -> set:
    """``{(name, weight)}`` of the base losses the config's AvatarLoss
    entries wrap (``'mmkd.CWDLoss'`` -> ``'CWD'``)."""
    cfg = load_config(osp.join(CONFIG_DIR, config))
    bases = set()
    for entry in cfg.model.distill.values():
        loss = entry.get('loss') if entry else None
        if loss and loss['type'] == 'mmkd.AvatarLoss':
            base = loss['base']
            name = re.fullmatch(r'mmkd\.(\w+?)Loss', base['type']).group(1)
            bases.add((name, float(base.get('loss_weight', 1.0))))
    return bases


def _readme_setting(folder: str, config: str) -> str:
    """The paper's-setting cell of the README table row of ``config``
    ("as above" resolved to the row above)."""
    with open(osp.join(CONFIG_DIR, folder, 'README.md')) as f:
        lines = [line for line in f if line.startswith('|')]
    header = [c.strip() for c in lines[0].strip().strip('|').split('|')]
    column = header.index(SETTING)
    previous = None
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        cell = cells[column]
        if cell.startswith('as above'):
            cell = previous
        if cells[0] == f'`{osp.basename(config)}`':
            return cell
        previous = cell
    raise AssertionError(f'{config}: no row in {folder}/README.md')


def _first_distiller(text: str) -> str:
    found = [(text.find(n), n) for n in DISTILLERS if n in text]
    assert found, f'no base distiller named in {text!r}'
    return min(found)[1]


def test_notes_are_found():
    assert len(NOTED) >= 5  # the five published AKD COCO configs


@pytest.mark.parametrize('entry', NOTED, ids=[e.config for e in NOTED])
def test_note_names_the_base_the_config_builds(entry):
    note = ' '.join(entry.note.split())
    stacked = re.search(
        r'this config stacks AKD on (\w+)(?: \(weight '
        r'([\d.]+)\))?', note)
    assert stacked, note
    bases = _config_bases(entry.config)
    names = {name for name, _ in bases}
    assert names == {stacked.group(1)}, (note, bases)
    if stacked.group(2):
        assert bases == {(stacked.group(1), float(stacked.group(2)))}
    published = re.search(r'the published number uses (\w+)', note)
    assert published, note
    folder = entry.config.split('/')[0]
    setting = _readme_setting(folder, entry.config)
    assert published.group(1) == _first_distiller(setting), (note, setting)


def _seg_entry():
    seg = [e for e in ENTRIES if 'mmseg::' in e.student.get('Config', '')]
    assert seg, 'no segmentation recipe in the metafiles'
    return seg[0]


def test_guard_names_no_flag_that_mmseg_train_py_lacks():
    """mmseg's tools/train.py has no --auto-scale-lr (mmdet's has); every
    option the guard's learning-rate fix names is one it parses."""
    entry = _seg_entry()
    message = guard_message(entry, RunRecipe(1, 2, entry.schedule))
    fix = next(line for line in message.splitlines()
               if 'learning rate' in line)
    with open(package_train_script('mmseg')) as f:
        script = f.read()
    flags = set(re.findall(r"'(--[\w-]+)'", script))
    assert '--cfg-options' in flags and '--auto-scale-lr' not in flags
    named = set(re.findall(r'(--[a-z][\w-]+)', fix))
    assert named and named <= flags, (named, flags)


def test_guard_lr_fix_scales_the_lr_through_mmseg_train_py(
        tmp_path, cityscapes_shapes_root):
    """The fix, pasted onto mmseg's tools/train.py (one process, batch 2):
    mmengine's Runner scales the learning rate by 2 / the recipe's total
    batch."""
    entry = _seg_entry()
    message = guard_message(entry, RunRecipe(1, 2, entry.schedule))
    fix = next(line for line in message.splitlines()
               if 'learning rate' in line)
    options = re.search(r'--cfg-options ((?:\S+=\S+ ?)+)', fix).group(1)
    teacher = fresh_teacher_ckpt(SEG_TEACHER, str(tmp_path / 't.pth'),
                                 seg=True)
    cmd = [
        python(),
        package_train_script('mmseg'),
        repo_path(CWD_SEG), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options'
    ] + cli(seg_options(cityscapes_shapes_root, teacher,
                        max_iters=1)) + options.split()
    output = run(cmd, str(tmp_path))
    factor = 2 / entry.total_batch
    assert (f'LR is set based on batch size of {entry.total_batch} and the '
            f'current batch size is 2. Scaling the original LR by '
            f'{factor}') in output
