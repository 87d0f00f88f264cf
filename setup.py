# Copyright (c) mmkd contributors. All rights reserved.
import os
import shutil
from pathlib import Path
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# shipped under mmkd/.mim/ as OpenMMLab packages do: mmengine resolves
# `mmkd::akd/x.py` to mmkd/.mim/configs/akd/x.py, `mim train mmkd` runs
# mmkd/.mim/tools/train.py
MIM_DIRS = ('configs', 'tools')
MIM_FILES = ('model-index.yml', )


class build_py_with_mim(build_py):
    """build_py that also ships ``configs/``, ``tools/`` and
    ``model-index.yml`` in the package's ``.mim`` folder: copied into the
    build (``pip install .``, wheels), or,
    for an editable install, linked into the source tree
    (``mmkd/.mim/configs -> ../../configs``, git-ignored). The repository
    keeps a single copy of each config.
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            self._link_in_source()
        else:
            self._copy_into(Path(self.build_lib) / 'mmkd' / '.mim')

    @staticmethod
    def _copy_into(mim: Path) -> None:
        mim.mkdir(parents=True, exist_ok=True)
        for name in MIM_DIRS:
            target = mim / name
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            shutil.copytree(
                HERE / name, target,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        for name in MIM_FILES:
            shutil.copyfile(HERE / name, mim / name)

    @staticmethod
    def _link_in_source() -> None:
        mim = HERE / 'mmkd' / '.mim'
        mim.mkdir(exist_ok=True)
        for name in MIM_DIRS + MIM_FILES:
            target = mim / name
            if target.is_symlink() or target.exists():
                continue
            try:
                os.symlink(
                    Path('..') / '..' / name, target, target_is_directory=name
                    in MIM_DIRS)
            except OSError:  # no symlinks (e.g. Windows without rights)
                if name in MIM_DIRS:
                    shutil.copytree(HERE / name, target)
                else:
                    shutil.copyfile(HERE / name, target)


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [
        ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')
    ]


def read_version():
    namespace = {}
    exec((HERE / 'mmkd' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='mmkd',
    version=read_version(),
    description='Knowledge distillation toolkit for OpenMMLab (mmdet 3.x, '
    'mmseg 1.x, classification, data-free regression)',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8') if
    (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo')),
    include_package_data=True,
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    zip_safe=False,
    cmdclass={'build_py': build_py_with_mim},
)
