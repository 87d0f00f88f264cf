# Copyright (c) mmkd contributors. All rights reserved.
import pytest

from mmkd.utils import (SUPPORTED_VERSIONS, IncompatibleVersionError,
                        check_versions)


def fake(versions):
    return versions.get


def test_supported_stack_passes():
    found = check_versions(fake(dict(SUPPORTED_VERSIONS)))
    assert found == SUPPORTED_VERSIONS


def test_installed_stack_is_supported():
    # the environment `make test` sets up is the supported one
    found = check_versions()
    assert found['mmengine'] == '0.10.7'
    assert found['mmcv'].split('+')[0] == '2.1.0'


def test_local_build_tag_is_ignored():
    versions = dict(SUPPORTED_VERSIONS, mmcv='2.1.0+cpu')
    assert check_versions(fake(versions))['mmcv'] == '2.1.0+cpu'


def test_wrong_version_names_found_and_wanted():
    versions = dict(SUPPORTED_VERSIONS, mmcv='2.2.0', mmdet='3.1.0')
    with pytest.raises(IncompatibleVersionError) as err:
        check_versions(fake(versions))
    msg = str(err.value)
    assert 'mmcv==2.2.0 is installed' in msg and 'mmcv==2.1.0' in msg
    assert 'mmdet==3.1.0 is installed' in msg and 'mmdet==3.3.0' in msg
    assert 'make setup' in msg


def test_optional_packages_may_be_missing_but_not_mmengine():
    versions = {'mmengine': '0.10.7'}
    assert check_versions(fake(versions)) == {'mmengine': '0.10.7'}
    with pytest.raises(IncompatibleVersionError, match='mmengine is not'):
        check_versions(fake({}))
