# Copyright (c) mmkd contributors. All rights reserved.
"""The published recipes of mmkd's configs: ``configs/<method>/metafile.yml``.

Each metafile follows the OpenMMLab schema (``Collections`` and ``Models``
with ``Name``, ``In Collection``, ``Config``, ``Metadata``, ``Results``),
and every model has an mmkd ``Distillation`` block: the status of its
number (``published`` or ``measured``), its source, the metric (its name in
``Results``, the key a run logs it under and the scale from the logged
value to the published one), the teacher and the student with their own
numbers, and the recipe (``GPUs``, ``Batch per GPU``, ``Epochs`` or
``Iterations``, ``Input Size``). docs/user_guides/reproducing.md describes
it. This module only reads them; the recipe guard
(:class:`mmkd.engine.hooks.RecipeGuardHook`) and
``tools/analysis_tools/compare_to_paper.py`` use it.
"""
import glob
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .config import mmkd_config_dir

METAFILE = 'metafile.yml'


@dataclass
class RecipeEntry:
    """One model of a metafile: a config and the result it targets."""
    name: str
    config: str  # relative to configs/, e.g. 'pkd/pkd_fpn_..._coco.py'
    metric: str  # the metric's name in Results, e.g. 'box AP'
    value: float  # the distilled number
    metric_key: str  # the key a run logs it under, e.g. 'coco/bbox_mAP'
    scale: float  # published = logged value * scale
    lower_is_better: bool
    status: str  # 'published' or 'measured'
    source: str
    teacher: dict  # the (first) teacher
    student: dict
    recipe: dict
    note: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)
    #: every teacher (``Teacher`` may list several, one per teacher)
    teachers: List[dict] = field(default_factory=list)

    @property
    def gpus(self) -> int:
        return int(self.recipe['GPUs'])

    @property
    def batch_per_gpu(self) -> int:
        return int(self.recipe['Batch per GPU'])

    @property
    def total_batch(self) -> int:
        return self.gpus * self.batch_per_gpu

    @property
    def schedule(self) -> Dict[str, int]:
        """``{'max_epochs': 24}`` or ``{'max_iters': 80000}``: the recipe's
        schedule as ``train_cfg`` names it."""
        if 'Epochs' in self.recipe:
            return {'max_epochs': int(self.recipe['Epochs'])}
        return {'max_iters': int(self.recipe['Iterations'])}

    def side_value(self, side: str) -> Optional[float]:
        """The teacher's or the student's own number (``side`` is
        ``'teacher'`` or ``'student'``; the first teacher of several), None
        when none is published."""
        return self.value_of(getattr(self, side))

    def value_of(self, model: dict) -> Optional[float]:
        """The number a ``Teacher``/``Student`` block publishes."""
        metrics = model.get('Metrics') or {}
        return metrics.get(self.metric)


def _entry(model: dict, path: str) -> RecipeEntry:
    where = f'{path}: model {model.get("Name")!r}'
    try:
        dist = model['Distillation']
        metric = dist['Metric']
        name = metric['Name']
        results = model['Results'][0]['Metrics']
        config = model['Config']
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f'{where} lacks {exc}') from None
    if not config.startswith('configs/'):
        raise ValueError(f'{where}: Config {config!r} is not under configs/')
    if name not in results:
        raise ValueError(f'{where}: Results name no {name!r} metric')
    teachers = dist.get('Teacher') or []
    teachers = [teachers] if isinstance(teachers, dict) else list(teachers)
    if not all(isinstance(t, dict) for t in teachers):
        raise ValueError(f'{where}: Teacher must be a mapping (Name, '
                         'Config, Metrics) or a list of them')
    recipe = dist.get('Recipe') or {}
    missing = [
        k for k in ('GPUs', 'Batch per GPU')
        if not isinstance(recipe.get(k), int)
    ]
    if missing or ('Epochs' in recipe) == ('Iterations' in recipe):
        raise ValueError(f'{where}: its Recipe needs integer GPUs and Batch '
                         'per GPU and one of Epochs or Iterations')
    sides = dict(teacher=teachers[0] if teachers else {}, teachers=teachers,
                 student=dist.get('Student') or {})
    return RecipeEntry(
        name=model['Name'], config=config[len('configs/'):], metric=name,
        value=float(results[name]), metric_key=metric['Key'],
        scale=float(metric.get('Scale', 1)),
        lower_is_better=bool(metric.get('Lower Is Better', False)),
        status=dist.get('Status', 'published'), source=dist['Source'],
        recipe=recipe, note=dist.get('Note'), raw=model, **sides)


def metafile_paths(config_dir: Optional[str] = None) -> List[str]:
    """Every ``<config_dir>/<folder>/metafile.yml`` (``config_dir``:
    mmkd's configs, installed or in the checkout)."""
    config_dir = config_dir or mmkd_config_dir()
    return sorted(glob.glob(osp.join(config_dir, '*', METAFILE)))


def load_metafile(path: str) -> List[RecipeEntry]:
    """The models of one metafile.

    Raises:
        ValueError: naming the file and the model of a malformed entry.
    """
    import yaml
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    return [_entry(m, path) for m in data.get('Models') or []]


_cache: Dict[str, Dict[str, RecipeEntry]] = {}


def load_recipes(config_dir: Optional[str] = None) -> Dict[str, RecipeEntry]:
    """Every metafile entry, by config path relative to configs/
    (read once per folder; an installed mmkd's ``.mim/configs`` link to
    the checkout's configs/ is the same folder)."""
    config_dir = osp.realpath(config_dir or mmkd_config_dir())
    if config_dir not in _cache:
        entries = {}
        for path in metafile_paths(config_dir):
            for entry in load_metafile(path):
                entries[entry.config] = entry
        _cache[config_dir] = entries
    return _cache[config_dir]


def config_key(filename: str) -> Optional[str]:
    """The part of a config's path after its last ``configs/`` folder (or
    after ``mmkd::``), with ``/`` separators; None when there is none."""
    path = str(filename).replace('\\', '/')
    if path.startswith('mmkd::'):
        return path[len('mmkd::'):]
    marker = '/configs/'
    if not path.startswith('/'):
        path = '/' + path
    if marker not in path:
        return None
    return osp.normpath(path.rsplit(marker, 1)[1]).replace('\\', '/')


def find_recipe(filename: Optional[str],
                config_dir: Optional[str] = None) -> Optional[RecipeEntry]:
    """The metafile entry of the config at ``filename``: a path (absolute or
    relative, to the checkout's configs/ or an installed mmkd's
    ``.mim/configs``), a ``mmkd::`` name, or a config dumped in a work dir
    (matched by its file name when that name is unique among the entries).
    None when the config has no entry."""
    if not filename:
        return None
    recipes = load_recipes(config_dir)
    key = config_key(filename)
    if key in recipes:
        return recipes[key]
    base = osp.basename(str(filename))
    matches = [e for k, e in recipes.items() if osp.basename(k) == base]
    return matches[0] if len(matches) == 1 else None


@dataclass
class RunRecipe:
    """What a run trains with, as a recipe names it."""
    world_size: int
    batch_per_process: Optional[int]
    schedule: Dict[str, int]  # {'max_epochs': n} or {'max_iters': n}

    @property
    def total_batch(self) -> Optional[int]:
        if self.batch_per_process is None:
            return None
        return self.world_size * self.batch_per_process


def run_recipe(cfg, world_size: int) -> RunRecipe:
    """The recipe of a run of config ``cfg`` on ``world_size`` processes."""
    loader = cfg.get('train_dataloader') or {}
    train_cfg = cfg.get('train_cfg') or {}
    schedule = {
        k: int(train_cfg[k])
        for k in ('max_epochs', 'max_iters') if train_cfg.get(k) is not None
    }
    batch = loader.get('batch_size')
    return RunRecipe(
        world_size=int(world_size),
        batch_per_process=None if batch is None else int(batch),
        schedule=schedule)


def _plural(n: int, word: str) -> str:
    return f'{n} {word}' + ('' if n == 1 else 's')


def describe_schedule(schedule: Dict[str, int]) -> str:
    if not schedule:
        return 'unknown'
    return ', '.join(
        _plural(n, 'epoch' if k == 'max_epochs' else 'iteration')
        for k, n in schedule.items())


def describe_recipe(entry: RecipeEntry) -> str:
    """``'8 GPUs x 2 = 16 per iteration, 24 epochs, input 1333x800'``."""
    text = (f'{_plural(entry.gpus, "GPU")} x {entry.batch_per_gpu} = '
            f'{entry.total_batch} per iteration, '
            f'{describe_schedule(entry.schedule)}')
    if entry.recipe.get('Input Size'):
        text += f', input {entry.recipe["Input Size"]}'
    return text


def recipe_differences(entry: RecipeEntry, run: RunRecipe) -> List[str]:
    """What differs between ``run`` and the recipe of ``entry``: total batch
    and schedule, one line each (empty when they match)."""
    diffs = []
    if run.total_batch is not None and run.total_batch != entry.total_batch:
        diffs.append(
            f'total batch {run.total_batch} '
            f'({_plural(run.world_size, "process")} x '
            f'{run.batch_per_process}) vs the recipe\'s {entry.total_batch} '
            f'({_plural(entry.gpus, "GPU")} x {entry.batch_per_gpu})')
    if run.schedule != entry.schedule:
        diffs.append(f'schedule {describe_schedule(run.schedule)} vs the '
                     f'recipe\'s {describe_schedule(entry.schedule)}')
    return diffs


def recipe_fixes(entry: RecipeEntry, run: RunRecipe,
                 auto_scale_lr: Optional[dict] = None) -> List[str]:
    """How to bring ``run`` back to the recipe of ``entry``."""
    fixes = []
    total = entry.total_batch
    if run.total_batch is not None and run.total_batch != total:
        auto = auto_scale_lr or {}
        if auto.get('enable') and auto.get('base_batch_size') == total:
            fixes.append(
                f'the learning rate is already scaled to your batch '
                f'(auto_scale_lr, base_batch_size={total}), but the '
                f'published number was measured at a batch of {total}')
        else:
            fixes.append(
                'scale the learning rate to your batch: --cfg-options '
                f'auto_scale_lr.enable=True auto_scale_lr.base_batch_size='
                f'{total} (with any tools/train.py, mmkd\'s, mmdet\'s or '
                'mmseg\'s: mmengine\'s Runner multiplies the learning rate '
                'by your total batch / base_batch_size; the base must be the '
                f'recipe\'s total, {total})')
        fixes.append(
            f'or run the recipe\'s batch: {_plural(entry.gpus, "process")} '
            f'with --cfg-options train_dataloader.batch_size='
            f'{entry.batch_per_gpu}')
    if run.schedule != entry.schedule:
        options = ' '.join(f'train_cfg.{k}={n}'
                           for k, n in entry.schedule.items())
        fixes.append(f'restore the schedule: --cfg-options {options} '
                     '(and the param_scheduler milestones that go with it)')
    return fixes


def guard_message(entry: RecipeEntry, run: RunRecipe,
                  auto_scale_lr: Optional[dict] = None) -> Optional[str]:
    """The recipe guard's warning for ``run``, None when it matches."""
    diffs = recipe_differences(entry, run)
    if not diffs:
        return None
    lines = [
        f'Recipe guard: this run of {entry.config} differs from the recipe '
        f'of its {entry.status} result ({entry.metric} {entry.value:g}; '
        f'{entry.source}):'
    ]
    lines += [f'  - {d}' for d in diffs]
    lines.append(f'The {entry.status} {entry.metric} {entry.value:g} '
                 f'assumed {describe_recipe(entry)}; this run is not '
                 'expected to reach it.')
    lines.append('To match:')
    lines += [f'  - {f}' for f in recipe_fixes(entry, run, auto_scale_lr)]
    return '\n'.join(lines)
