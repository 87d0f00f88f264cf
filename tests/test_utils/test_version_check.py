# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp
import re
import warnings

import pytest

from mmkd.utils import (COMPATIBILITY, SUPPORTED_VERSIONS,
                        IncompatibleVersionError, UntestedVersionWarning,
                        check_versions)

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def fake(versions):
    return versions.get


def test_tested_stack_passes_silently():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        found = check_versions(fake(dict(SUPPORTED_VERSIONS)))
    assert found == SUPPORTED_VERSIONS


def test_installed_stack_is_the_tested_one():
    # the environment `make test` sets up is the tested one
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        found = check_versions()
    assert found['mmengine'] == '0.10.7'
    assert found['mmcv'].split('+')[0] == '2.1.0'


def test_local_build_tag_is_ignored():
    versions = dict(SUPPORTED_VERSIONS, mmcv='2.1.0+cpu')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert check_versions(fake(versions))['mmcv'] == '2.1.0+cpu'


@pytest.mark.parametrize('dist, version, why', [
    ('mmcv', '2.2.0', 'refuse mmcv >= 2.2'),
    ('mmcv', '1.7.2', 'mmcv 1.x'),
    ('mmcv', '2.0.0rc3', 'mmcv 1.x'),
    ('mmengine', '0.7.2', 'checkpoints differ'),
    ('mmengine', '1.0.0', 'refuse mmengine >= 1.0'),
    ('mmdet', '2.28.2', 'mmdet 2.x'),
    ('mmsegmentation', '0.30.0', 'mmseg 0.x'),
])
def test_known_broken_versions_are_refused_with_the_reason(dist, version, why):
    versions = dict(SUPPORTED_VERSIONS, **{dist: version})
    with pytest.raises(IncompatibleVersionError) as err:
        check_versions(fake(versions))
    msg = str(err.value)
    assert f'{dist}=={version} is installed' in msg
    assert why in msg
    assert f'tested with {dist}=={SUPPORTED_VERSIONS[dist]}' in msg
    assert 'make setup' in msg


def test_all_refused_packages_named_at_once():
    versions = dict(SUPPORTED_VERSIONS, mmcv='2.2.0', mmdet='2.28.2')
    with pytest.raises(IncompatibleVersionError) as err:
        check_versions(fake(versions))
    assert 'mmcv==2.2.0' in str(err.value)
    assert 'mmdet==2.28.2' in str(err.value)


@pytest.mark.parametrize('dist, version', [
    ('mmengine', '0.7.3'),
    ('mmengine', '0.10.4'),
    ('mmcv', '2.0.1'),
    ('mmdet', '3.1.0'),
    ('mmdet', '4.0.0'),
    ('mmsegmentation', '1.1.2'),
])
def test_untested_versions_warn_and_pass(dist, version):
    versions = dict(SUPPORTED_VERSIONS, **{dist: version})
    with pytest.warns(UntestedVersionWarning) as record:
        found = check_versions(fake(versions))
    assert found[dist] == version
    msg = str(record[0].message)
    assert f'{dist}=={version}' in msg
    assert f'tested: {SUPPORTED_VERSIONS[dist]}' in msg


def test_optional_packages_may_be_missing_but_not_mmengine():
    versions = {'mmengine': '0.10.7'}
    assert check_versions(fake(versions)) == {'mmengine': '0.10.7'}
    with pytest.raises(IncompatibleVersionError, match='mmengine is not'):
        check_versions(fake({}))


# ------------------------------------------- README and requirements agree
def _readme_table():
    """README's "Supported versions" rows of the OpenMMLab packages:
    package -> (tested, [refused specifiers])."""
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('### Supported versions', 1)[1].split('\n#', 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) < 3 or cells[0] not in COMPATIBILITY:
            continue
        refused = re.findall(r'`([<>=!~][^`]*)`', cells[2])
        rows[cells[0]] = (cells[1], refused)
    return rows


def test_readme_table_states_the_same_ranges():
    rows = _readme_table()
    assert set(rows) == set(COMPATIBILITY), (
        'README "Supported versions" must have one row per package of '
        'mmkd/utils/version_check.py COMPATIBILITY')
    for dist, compat in COMPATIBILITY.items():
        tested, refused = rows[dist]
        assert tested == compat.tested, dist
        assert refused == [spec for spec, _ in compat.refused], dist


def test_runtime_requirements_are_what_is_not_refused():
    invert = {'<': '>=', '>=': '<', '<=': '>', '>': '<='}
    with open(osp.join(REPO, 'requirements', 'runtime.txt')) as f:
        lines = [ln.strip() for ln in f if ln.strip() and ln[0] != '#']
    reqs = {re.split(r'[<>=!~]', ln, 1)[0]: ln for ln in lines}
    for dist, compat in COMPATIBILITY.items():
        allowed = []
        for spec, _ in compat.refused:
            op, version = re.match(r'([<>=]+)(.*)', spec).groups()
            allowed.append(invert[op] + version)
        assert reqs[dist] == dist + ','.join(
            sorted(allowed, key=lambda s: s[0] != '>')), dist
