# Copyright (c) mmkd contributors. All rights reserved.
"""The metafiles (configs/<method>/metafile.yml): model-index.yml imports
each, every config they name exists and loads, every number in them is
the one the method's README gives, and mim lists them."""
import os.path as osp
import re

import pytest
import yaml

from mmkd.utils import load_config
from mmkd.utils.metafile import (RunRecipe, config_key, find_recipe,
                                 guard_message, load_metafile, load_recipes,
                                 metafile_paths)

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIG_DIR = osp.join(REPO, 'configs')
METAFILES = metafile_paths(CONFIG_DIR)
ENTRIES = sorted(load_recipes(CONFIG_DIR).values(), key=lambda e: e.config)
# folders whose README table row of a config gives teacher, student and
# distilled numbers together
ROW_FOLDERS = ('akd', 'cwd', 'pkd', 'mgd', 'fgd', 'crosskd', 'ld',
               'multi_teacher')
# the data-free regression README's results table: column of each strategy
REGRESSION_COLUMNS = {
    'gaussian': 'gaussian',
    'generator-adecr': 'generator a->0',
    'direct-adecr': 'direct a->0',
    'generator-a1': 'generator a=1',
    'direct-a1': 'direct a=1',
}
TOY_PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'


def numbers(text: str) -> set:
    return {float(n) for n in re.findall(r'\d+(?:\.\d+)?|\.\d+', text)}


def table_cell(text: str, row: str, column: str) -> str:
    """The cell of the markdown table row whose first cell is ``row`` under
    the header ``column`` (first table that has both)."""
    header = None
    for line in text.splitlines():
        if not line.startswith('|'):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if header is None:
            header = cells
        elif cells[0] == row and column in header:
            return cells[header.index(column)]
    raise AssertionError(f'no table cell ({row!r}, {column!r})')


def config_lines(text: str, config: str) -> list:
    """The lines that name ``config`` in backticks (``x.py`` or
    ``folder/x.py``)."""
    name = re.escape(osp.basename(config))
    return [
        line for line in text.splitlines()
        if re.search(rf'`([^`]*/)?{name}`', line)
    ]


def test_model_index_imports_every_metafile():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    imported = sorted(osp.join(REPO, p) for p in index['Import'])
    assert imported == METAFILES
    folders = {osp.basename(osp.dirname(p)) for p in METAFILES}
    assert folders == {
        'akd', 'cls', 'crosskd', 'cwd', 'datafree_regression', 'fgd', 'ld',
        'mgd', 'multi_teacher', 'pkd'
    }


@pytest.mark.parametrize('path', METAFILES,
                         ids=[osp.relpath(p, REPO) for p in METAFILES])
def test_metafile_schema(path):
    with open(path) as f:
        data = yaml.safe_load(f)
    collections = {c['Name'] for c in data['Collections']}
    for c in data['Collections']:
        assert c['Paper']['URL'].startswith('https://')
        assert osp.isfile(osp.join(REPO, c['README']))
    names = [m['Name'] for m in data['Models']]
    assert len(names) == len(set(names))
    for model in data['Models']:
        assert model['In Collection'] in collections
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
        meta = model['Metadata']
        assert {'Training Data', 'Training Resources',
                'Batch Size'} <= set(meta)
        assert ('Epochs' in meta) != ('Iterations' in meta)
        dist = model['Distillation']
        assert dist['Status'] in ('published', 'measured')
        assert (dist['Status'] == 'measured'
                ) == dist['Source'].startswith('measured')
        recipe = dist['Recipe']
        assert meta['Batch Size'] == recipe['GPUs'] * recipe['Batch per GPU']
        assert meta.get('Epochs') == recipe.get('Epochs')
        assert meta.get('Iterations') == recipe.get('Iterations')
    assert len(load_metafile(path)) == len(names)


@pytest.mark.parametrize('entry', ENTRIES, ids=[e.config for e in ENTRIES])
def test_config_exists_and_matches_its_recipe(entry):
    """The config loads and, for a published number, its own batch and
    schedule are the recipe's (a measured toy number's recipe is that of
    tools/demo.py, which sets them); its teacher and student configs
    exist."""
    path = osp.join(CONFIG_DIR, entry.config)
    assert osp.isfile(path), path
    cfg = load_config(path)
    if entry.status == 'published':
        assert cfg.train_dataloader.batch_size == entry.batch_per_gpu
        for key, value in entry.schedule.items():
            assert cfg.train_cfg[key] == value
        auto = cfg.get('auto_scale_lr')
        if auto is not None:
            assert auto.base_batch_size == entry.total_batch
    for side in entry.teachers + [entry.student]:
        config = side.get('Config')
        if config and '::' not in config:
            assert osp.isfile(osp.join(REPO, config)), config
    found = find_recipe(path)
    assert (found.name, found.config) == (entry.name, entry.config)


@pytest.mark.parametrize('entry', ENTRIES, ids=[e.config for e in ENTRIES])
def test_numbers_are_the_readme_numbers(entry):
    folder = entry.config.split('/')[0]
    with open(osp.join(CONFIG_DIR, folder, 'README.md')) as f:
        readme = f.read()
    teachers = [entry.value_of(t) for t in entry.teachers]
    teacher = teachers[0] if teachers else None
    student = entry.side_value('student')
    lines = config_lines(readme, entry.config)
    if folder == 'datafree_regression':
        strategy, _, dataset = entry.name.partition('_mlp50_')
        cell = table_cell(readme, dataset, REGRESSION_COLUMNS[strategy])
        teacher_cell = table_cell(readme, dataset, 'teacher')
        assert teacher in numbers(teacher_cell)
    elif lines:
        cell = ' '.join(lines)
    else:  # the CIFAR-100 matrix: teacher -> student rows, method columns
        row = f'{entry.teacher["Name"]} -> {entry.student["Name"]}'
        cell = table_cell(readme, row, entry.name.split('_')[0])
    assert entry.value in numbers(cell), (entry.value, cell)
    for value in teachers + [student]:
        if value is None:
            continue
        where = cell if folder in ROW_FOLDERS else readme
        assert value in numbers(where), (value, where)


@pytest.mark.parametrize('name', [
    TOY_PKD,
    osp.join(REPO, TOY_PKD),
    'mmkd::pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py',
    '../../elsewhere/configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-'
    'shapes.py',
    '/tmp/work_dirs/x/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py',
])
def test_find_recipe_from_any_path(name):
    entry = find_recipe(name, CONFIG_DIR)
    assert entry is not None and entry.config == TOY_PKD[len('configs/'):]


def test_find_recipe_none_for_configs_without_entry():
    assert find_recipe('configs/toy/retinanet_r18-w32_shapes-coco.py',
                       CONFIG_DIR) is None
    assert find_recipe(None, CONFIG_DIR) is None
    assert config_key('a/b.py') is None


def test_guard_message_counts_processes():
    """The total batch is world size x batch per process: 2 processes x 8
    run the 1 x 16 recipe; 1 x 8 does not."""
    entry = find_recipe(TOY_PKD, CONFIG_DIR)
    schedule = dict(max_epochs=30)
    assert guard_message(entry, RunRecipe(2, 8, schedule)) is None
    message = guard_message(entry, RunRecipe(1, 8, schedule))
    assert 'total batch 8 (1 process x 8) vs the recipe\'s 16 (1 GPU x ' \
        '16)' in message
    assert 'auto_scale_lr.base_batch_size=16' in message
    assert 'schedule' not in message.split('To match')[0]


def _mim_names(index_path):
    from mim.commands.search import convert2df
    from modelindex import load
    return set(convert2df(load(index_path)).index)


def test_mim_reads_the_model_index():
    """mim's own parser lists every entry (``mim search mmkd`` on an
    installed mmkd: tests/test_packaging.py)."""
    pytest.importorskip('mim', reason='openmim is not installed')
    names = _mim_names(osp.join(REPO, 'model-index.yml'))
    assert names == {e.name for e in ENTRIES}
