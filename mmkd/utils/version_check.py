# Copyright (c) mmkd contributors. All rights reserved.
"""Start-up check of the OpenMMLab stack.

:data:`COMPATIBILITY` is the one statement, in code, of which versions mmkd
is tested with, which it refuses (and why) and, implicitly, which it only
warns about: every other version is untested. README's "Supported versions"
table states the same (``tests/test_utils/test_version_check.py`` checks
that they agree).
"""
import warnings
from importlib import metadata
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


class Compat(NamedTuple):
    """What mmkd knows about one distribution."""
    tested: str
    # (specifier, why) pairs: versions known not to work
    refused: Tuple[Tuple[str, str], ...]


# distribution name -> tested version and the known-broken ranges
COMPATIBILITY: Dict[str, Compat] = {
    'mmengine':
    Compat('0.10.7', (
        ('<0.7.3', 'its checkpoints differ: the state dict is collected by '
         "mmengine's own get_state_dict and the message hub is pickled "
         "without HistoryBuffer's statistics methods; mmkd's plain-student "
         'checkpoints, resume and safe checkpoint loading are written for '
         'the 0.7.3+ format (mmdet 3.3 itself refuses < 0.7.1)'),
        ('>=1.0.0', 'mmdet 3.3 and mmseg 1.2 refuse mmengine >= 1.0 at '
         'import'),
    )),
    'mmcv':
    Compat('2.1.0', (
        ('<2.0.0rc4', 'mmcv 1.x has no mmengine-based API; mmdet 3.x and '
         'mmseg 1.x refuse it at import'),
        ('>=2.2.0', 'mmdet 3.3 and mmseg 1.2 refuse mmcv >= 2.2 at import '
         '(their own version assertion)'),
    )),
    'mmdet':
    Compat('3.3.0',
           (('<3.0.0', 'mmdet 2.x is built on mmcv 1.x (no mmengine Runner or '
             'registries)'), )),
    'mmsegmentation':
    Compat('1.2.2',
           (('<1.0.0', 'mmseg 0.x is built on mmcv 1.x (no mmengine Runner or '
             'registries)'), )),
}

# the tested version of each distribution
SUPPORTED_VERSIONS: Dict[str, str] = {
    dist: compat.tested
    for dist, compat in COMPATIBILITY.items()
}


class IncompatibleVersionError(ImportError):
    """An installed OpenMMLab package has a version mmkd refuses."""


class UntestedVersionWarning(UserWarning):
    """An installed OpenMMLab package has a version mmkd was not tested
    with (and does not know to be broken)."""


def _installed_version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _public(version: str) -> Version:
    # local build tags (e.g. '2.1.0+cpu') do not matter
    return Version(version.split('+')[0])


def classify(dist: str, version: str,
             table: Optional[Dict[str, Compat]] = None) -> Tuple[str, str]:
    """``('tested' | 'refused' | 'untested', why)`` for one installed
    version (``why`` is empty unless refused)."""
    compat = (COMPATIBILITY if table is None else table)[dist]
    try:
        have = _public(version)
    except InvalidVersion:
        return 'untested', ''
    if have == _public(compat.tested):
        return 'tested', ''
    for spec, why in compat.refused:
        if SpecifierSet(spec).contains(have, prereleases=True):
            return 'refused', f'{spec}: {why}'
    return 'untested', ''


def check_versions(
        get_version: Callable[[str], Optional[str]] = _installed_version,
        table: Optional[Dict[str, Compat]] = None) -> Dict[str, str]:
    """Check the installed OpenMMLab packages against
    :data:`COMPATIBILITY`.

    Packages that are not installed are skipped (mmdet and mmseg are only
    needed for dense prediction); ``mmengine`` must be installed. Known
    broken versions raise; other untested versions warn
    (:class:`UntestedVersionWarning`) and are used.

    Args:
        get_version: maps a distribution name to its installed version or
            ``None``. Defaults to reading the installed metadata.
        table: overrides :data:`COMPATIBILITY`.

    Returns:
        dict: the installed versions that were checked.

    Raises:
        IncompatibleVersionError: naming every refused package, the version
            found, why it is refused and the version mmkd is tested with.
    """
    table = COMPATIBILITY if table is None else table
    found: Dict[str, str] = {}
    problems: List[str] = []
    untested: List[str] = []
    for dist, compat in table.items():
        have = get_version(dist)
        if have is None:
            if dist == 'mmengine':
                problems.append(f'{dist} is not installed; mmkd is tested '
                                f'with {dist}=={compat.tested}')
            continue
        found[dist] = have
        verdict, why = classify(dist, have, table)
        if verdict == 'refused':
            problems.append(f'{dist}=={have} is installed, which mmkd '
                            f'refuses ({why}); mmkd is tested with '
                            f'{dist}=={compat.tested}')
        elif verdict == 'untested':
            untested.append(f'{dist}=={have} (tested: {compat.tested})')
    if problems:
        raise IncompatibleVersionError(
            'Incompatible OpenMMLab stack:\n  - ' + '\n  - '.join(problems) +
            '\nRun `make setup` (or `bash tools/setup_env.sh`) to install '
            'the tested versions; set MMKD_SKIP_VERSION_CHECK=1 to '
            'bypass this check at your own risk.')
    if untested:
        warnings.warn(
            'mmkd was not tested with ' + ', '.join(untested) +
            '; it may work (README: "Supported versions"). Set '
            'MMKD_SKIP_VERSION_CHECK=1 to silence this check.',
            UntestedVersionWarning, stacklevel=2)
    return found
