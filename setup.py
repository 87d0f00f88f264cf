# Copyright (c) mmkd contributors. All rights reserved.
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def read_version():
    namespace = {}
    exec((HERE / 'mmkd' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='mmkd',
    version=read_version(),
    description='Knowledge distillation toolkit for OpenMMLab (mmdet 3.x, '
    'mmseg 1.x, classification, data-free regression)',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8')
    if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo')),
    include_package_data=True,
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    zip_safe=False,
)
