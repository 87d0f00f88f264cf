# Copyright (c) mmkd contributors. All rights reserved.
"""`pip install .` (not editable) ships the configs, the tools and the mim
model index under mmkd/.mim, and `mmkd::` config names resolve from any
directory. The install goes into a fresh virtual environment that sees the
installed OpenMMLab stack of the interpreter running the tests (a virtual
environment or not; nothing is rebuilt) and is made from a copy of the
checkout's files, as a clone has them."""
import importlib.util
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
import venv

import pytest
from launch_utils import REPO_ROOT, run

CONFIG = 'akd/akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'

CHECK = '''
import os, sys
import mmkd
from mmengine.config import Config
from mmkd.utils import load_config
package = os.path.dirname(mmkd.__file__)
assert package.startswith(sys.prefix), package  # the installed copy
cfg = Config.fromfile('user_config.py')  # _base_ = ['mmkd::...']
assert cfg.model.type == 'mmkd.SingleTeacherDistiller'
assert cfg.runner_type == 'mmkd.DistillRunner'
assert cfg.train_cfg.max_epochs == 3
named = load_config('mmkd::{config}')
assert named.filename.startswith(os.path.join(package, '.mim', 'configs'))
print('CONFIG-OK', package)
'''


def _files(root):
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for name in filenames:
            if not name.endswith('.pyc'):
                out.add(osp.relpath(osp.join(dirpath, name), root))
    return out


def _see_the_running_stack(python: str) -> None:
    """Let the new environment import the stack of the interpreter that
    runs the tests (a virtual environment or not): a ``.pth`` file in its
    site-packages lists the running interpreter's site directories. Plain
    path lines: their own ``.pth`` files (an editable mmkd among them) are
    not processed, so the copy installed here is the only mmkd it sees.
    (``--system-site-packages`` would show the *base* interpreter's
    packages, not those of a virtual environment the tests run in.)"""
    own = subprocess.run([
        python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'
    ], check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    dirs = site.getsitepackages()
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    dirs = [d for d in dict.fromkeys(dirs) if osp.isdir(d)]
    with open(osp.join(own, '_mmkd_test_stack.pth'), 'w') as f:
        f.write('\n'.join(dirs) + '\n')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp('pip_install')
    # the checkout's files (tracked and new, not ignored): a clean copy
    listed = subprocess.run(
        ['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO_ROOT,
        check=True, stdout=subprocess.PIPE).stdout
    src = root / 'src'
    for rel in filter(None, listed.decode().split('\0')):
        if osp.isfile(osp.join(REPO_ROOT, rel)):
            dst = src / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(osp.join(REPO_ROOT, rel), dst)
    env_dir = root / 'venv'
    venv.create(env_dir, system_site_packages=False, with_pip=False)
    py = str(env_dir / 'bin' / 'python')
    _see_the_running_stack(py)
    # pip of the running interpreter installs into the venv (--prefix);
    # --ignore-installed: never uninstall the mmkd of the running Python
    run([
        sys.executable, '-m', 'pip', 'install', '--no-deps',
        '--ignore-installed', '--no-build-isolation',
        '--disable-pip-version-check', '-q', '--prefix',
        str(env_dir),
        str(src)
    ], str(root), timeout=600)
    return dict(root=root, python=py, src=src)


def test_pip_install_ships_configs_tools_and_model_index(installed):
    out = run([
        installed['python'], '-c',
        'import os, mmkd; print(os.path.dirname(mmkd.__file__))'
    ], str(installed['root']))
    package = out.strip().splitlines()[-1]
    assert package.startswith(str(installed['root'] / 'venv')), package
    mim = osp.join(package, '.mim')
    assert _files(osp.join(mim, 'configs')) == _files(
        osp.join(REPO_ROOT, 'configs'))
    assert osp.isfile(osp.join(mim, 'tools', 'train.py'))
    assert osp.isfile(osp.join(mim, 'tools', 'dist_train.sh'))
    assert osp.isfile(osp.join(mim, 'model-index.yml'))


def test_mmkd_config_names_resolve_outside_the_checkout(installed, tmp_path):
    (tmp_path / 'user_config.py').write_text(
        f"_base_ = ['mmkd::{CONFIG}']\ntrain_cfg = dict(max_epochs=3)\n")
    out = run([installed['python'], '-c',
               CHECK.format(config=CONFIG)], str(tmp_path))
    assert 'CONFIG-OK' in out


@pytest.mark.skipif(
    importlib.util.find_spec('mim') is None,
    reason='openmim is not installed (make setup installs openmim==0.3.9)')
def test_mim_search_lists_the_metafiles(installed):
    """``mim search mmkd`` reads the installed package's
    .mim/model-index.yml: every metafile entry is listed. (mim 0.3.9 cannot
    find the folder of an editable install, hence the installed copy.)"""
    from mmkd.utils.metafile import load_recipes
    out = run(
        [installed['python'], '-m', 'mim', 'search', 'mmkd', '--valid-config'],
        str(installed['root']))
    names = [
        e.name for e in load_recipes(osp.join(REPO_ROOT, 'configs')).values()
    ]
    assert names
    for name in names:
        assert f"'{name}'" in out, name
