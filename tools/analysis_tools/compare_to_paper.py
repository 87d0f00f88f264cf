# Copyright (c) mmkd contributors. All rights reserved.
"""Hold a finished run against the published result its config targets.

    python tools/analysis_tools/compare_to_paper.py WORK_DIR
        [--config CONFIG] [--world-size N]

Reads the run's final metrics (the last value of each key in the newest
``WORK_DIR/<timestamp>/vis_data/scalars.json``), its config (the copy the
Runner dumps as ``WORK_DIR/<config name>.py``; ``--config`` names it
otherwise, a path or a ``mmkd::`` name) and the number of processes it ran
on (``GPU number`` in the run's log; ``--world-size`` overrides), finds the
config's entry in ``configs/<method>/metafile.yml`` and prints the run
beside the teacher's, the student's and the distilled published (or, for a
toy config, measured) numbers, with the gaps and what differs from the
recipe. Exits with 1 when the config has no entry or the run logged no
value of its metric.
"""
import argparse
import glob
import json
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmkd.engine.hooks.teacher_check_hook import read_result
from mmkd.utils import load_config
from mmkd.utils.metafile import (RecipeEntry, describe_recipe, find_recipe,
                                 recipe_differences, run_recipe)


def newest_run(work_dir: str) -> str:
    """The newest ``<timestamp>`` folder of ``work_dir`` that has a
    ``vis_data/scalars.json``."""
    found = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(
            f'{work_dir} has no <timestamp>/vis_data/scalars.json: is it the '
            'work dir of a finished mmengine run?')
    return osp.dirname(osp.dirname(found[-1]))


def final_metrics(run_dir: str) -> Dict[str, float]:
    """The last logged value of each scalar of the run."""
    metrics = {}
    with open(osp.join(run_dir, 'vis_data', 'scalars.json')) as f:
        for line in f:
            if line.strip():
                metrics.update(json.loads(line))
    return metrics


def world_size(run_dir: str) -> int:
    """The run's number of processes, from mmengine's environment log."""
    for log in glob.glob(osp.join(run_dir, '*.log')):
        with open(log, errors='replace') as f:
            found = re.search(r'GPU number: (\d+)', f.read())
        if found:
            return int(found.group(1))
    return 1


def run_config(work_dir: str,
               config: Optional[str]) -> Tuple[object, RecipeEntry]:
    """The run's config and its metafile entry."""
    if config is not None:
        candidates = [config]
    else:
        candidates = sorted(
            glob.glob(osp.join(work_dir, '*.py')), key=osp.getmtime,
            reverse=True)
    for path in candidates:
        entry = find_recipe(path)
        if entry is not None:
            return load_config(path), entry
    names = ', '.join(osp.basename(p) for p in candidates) or 'none'
    raise LookupError(
        f'no metafile entry for the config of {work_dir} (configs: '
        f'{names}). Pass --config with the config the run used; configs '
        'with entries are listed in configs/*/metafile.yml.')


def checked_teachers(run_dir: str, entry: RecipeEntry, count: int) -> dict:
    """What the teacher check (:class:`~mmkd.engine.hooks.
    TeacherCheckHook`) measured before the run trained: ``values`` (each
    teacher's metric in the published units, in the entry's order; None
    where not measured), ``student`` (the untrained student's) and a
    ``note`` saying on what."""
    out = dict(values=[None] * count, student=None)
    found = read_result(run_dir)
    if found is None:
        out['note'] = ('teacher check: not in this run (off, no validation '
                       'data, or a run before mmkd had it)')
        return out
    if found['metric'] != entry.metric_key:
        out['note'] = (f'teacher check: judged by {found["metric"]}, not '
                       f'{entry.metric_key}: not shown')
        return out

    def scaled(metrics):
        value = (metrics or {}).get(entry.metric_key)
        return None if value is None else value * entry.scale

    # each metafile teacher's: the checked teacher it was matched with
    # (by name), else the one at its position
    checked = list(found['teachers'].values())
    for i, block in enumerate(entry.teachers[:count]):
        match = [
            t for t in checked if t.get('published_by') == block.get('Name')
        ]
        if match or i < len(checked):
            out['values'][i] = scaled(
                (match or checked)[0 if match else i]['metrics'])
    out['student'] = scaled(found.get('untrained_student'))
    warned = [k for k, v in found['teachers'].items() if v.get('warned')]
    out['note'] = (
        f'teacher check: measured on {found["images"]} before training' +
        (' (the student column: untrained)' if out['student'] is not None else
         '') + (f'; it warned about {", ".join(warned)}'
                if warned else '; no warning'))
    return out


def _decimals(values: List[Optional[float]]) -> int:
    digits = [
        len(repr(v).split('.')[1]) if '.' in repr(v) else 0 for v in values
        if v is not None
    ]
    return max(digits + [1])


def compare(work_dir: str, config: Optional[str] = None,
            processes: Optional[int] = None) -> str:
    """The report of ``work_dir``'s run against its metafile entry.

    Raises:
        LookupError: no entry for the run's config, or no value of its
            metric in the run's scalars.
    """
    run_dir = newest_run(work_dir)
    cfg, entry = run_config(work_dir, config)
    metrics = final_metrics(run_dir)
    if entry.metric_key not in metrics:
        raise LookupError(
            f'the run in {run_dir} logged no {entry.metric_key!r} (the '
            f'{entry.metric} of {entry.config}): validate or test it first')
    value = metrics[entry.metric_key] * entry.scale
    teachers = [(t.get('Name', '-'), entry.value_of(t))
                for t in entry.teachers] or [('-', None)]
    checked = checked_teachers(run_dir, entry, len(teachers))
    student = entry.side_value('student')
    digits = _decimals([entry.value, student] + [v for _, v in teachers])

    def num(v: Optional[float]) -> str:
        return '-' if v is None else f'{v:.{digits}f}'

    def gap(v: Optional[float]) -> str:
        return '-' if v is None else f'{value - v:+.{digits}f}'

    status = entry.status
    lines = [
        f'{entry.config}: {entry.name} ({status}; {entry.source})',
        f'run: {run_dir} ({entry.metric_key} = '
        f'{metrics[entry.metric_key]:g}' +
        (f', x {entry.scale:g}' if entry.scale != 1 else '') + ')', '',
        f'| | {entry.metric} | this run minus it | measured by the teacher '
        'check |', '|---|---:|---:|---:|'
    ] + [
        f'| teacher: {name} | {num(teacher)} | {gap(teacher)} | '
        f'{num(measured)} |'
        for (name, teacher), measured in zip(teachers, checked['values'])
    ] + [
        f'| student: {entry.student.get("Name", "-")} | {num(student)} | '
        f'{gap(student)} | {num(checked["student"])} |',
        f'| distilled ({status}) | {num(entry.value)} | '
        f'{gap(entry.value)} | |', f'| this run | {num(value)} | | |', ''
    ]
    if entry.lower_is_better:
        lines.append(f'({entry.metric}: lower is better)')
    lines.append(checked['note'])
    if student is not None:
        lines.append(f'gain over the student: this run '
                     f'{gap(student)}, {status} '
                     f'{entry.value - student:+.{digits}f}')
    run = run_recipe(cfg, processes or world_size(run_dir))
    diffs = recipe_differences(entry, run)
    lines.append(f'recipe: {describe_recipe(entry)}')
    if diffs:
        lines.append('this run differs from it:')
        lines += [f'  - {d}' for d in diffs]
    else:
        lines.append('this run matches it (batch and schedule)')
    if entry.note:
        lines.append(f'note: {entry.note}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description='Compare a finished run with the published result its '
        'config targets (configs/<method>/metafile.yml)')
    parser.add_argument('work_dir', help='the run\'s work dir')
    parser.add_argument(
        '--config', default=None, help='the config the run used (default: '
        'the copy the Runner dumped in WORK_DIR)')
    parser.add_argument(
        '--world-size', type=int, default=None, help='the run\'s number of '
        'processes (default: read from its log)')
    args = parser.parse_args(argv)
    try:
        print(compare(args.work_dir, args.config, args.world_size))
    except (LookupError, FileNotFoundError) as exc:
        print(f'compare_to_paper: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
