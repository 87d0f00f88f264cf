# Copyright (c) mmkd contributors. All rights reserved.
"""Start-up check of the OpenMMLab stack mmkd was built and tested against."""
from importlib import metadata
from typing import Callable, Dict, Optional

# distribution name -> (exact version that works, why)
SUPPORTED_VERSIONS: Dict[str, str] = {
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmdet': '3.3.0',
    'mmsegmentation': '1.2.2',
}


class IncompatibleVersionError(ImportError):
    """Raised when an installed OpenMMLab package has a version mmkd does not
    support."""


def _installed_version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_versions(
        get_version: Callable[[str], Optional[str]] = _installed_version,
        required: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Check installed OpenMMLab packages against :data:`SUPPORTED_VERSIONS`.

    Packages that are not installed are skipped (mmdet and mmseg are only
    needed for dense prediction); ``mmengine`` must be installed.

    Args:
        get_version: maps a distribution name to its installed version or
            ``None``. Defaults to reading the installed metadata.
        required: overrides :data:`SUPPORTED_VERSIONS`.

    Returns:
        dict: the installed versions that were checked.

    Raises:
        IncompatibleVersionError: naming every wrong package, the version
            found, the version that works and the command that installs it.
    """
    required = SUPPORTED_VERSIONS if required is None else required
    found, problems = {}, []
    for dist, want in required.items():
        have = get_version(dist)
        if have is None:
            if dist == 'mmengine':
                problems.append(f'{dist} is not installed; mmkd needs '
                                f'{dist}=={want}')
            continue
        found[dist] = have
        # local build tags (e.g. '2.1.0+cpu') do not matter
        if have.split('+')[0] != want:
            problems.append(f'{dist}=={have} is installed, but mmkd works '
                            f'with {dist}=={want}')
    if problems:
        raise IncompatibleVersionError(
            'Incompatible OpenMMLab stack:\n  - ' + '\n  - '.join(problems) +
            '\nRun `make setup` (or `bash tools/setup_env.sh`) to install '
            'the supported versions; set MMKD_SKIP_VERSION_CHECK=1 to '
            'bypass this check at your own risk.')
    return found
