# Copyright (c) mmkd contributors. All rights reserved.
"""Can the student's pretrained initialisation be had? Asked before a run
builds anything.

mmdet's and mmseg's students start from ImageNet weights named in their
configs: ``init_cfg=dict(type='Pretrained',
checkpoint='torchvision://resnet50')`` (mmengine imports torchvision to
resolve it, then downloads), ``pretrained='open-mmlab://resnet18_v1c'`` or a
URL (downloaded into torch's hub cache). Left alone, a missing torchvision
or an unreachable download stops the run inside ``init_weights``, after the
teacher was built and loaded, with ``No module named 'torchvision'`` or a
bare ``URLError``. :func:`check_pretrained` finds every such reference in a
model config and answers, for each, before the run starts:

- ``torchvision://NAME``: torchvision must import (the one built for the
  installed torch: :func:`matching_torchvision`); the weights file must then
  be in torch's hub cache or its URL reachable;
- ``open-mmlab://``/``openmmlab://``/``mmcls://``/``http(s)://``: the file
  is in torch's hub cache, or the URL answers;
- a local path: the file exists.

Each problem names the reference, why it cannot be had, and the two fixes:
what to install (or where to download from), and the ``--cfg-options`` that
points the reference at a local file. Other schemes (``s3://``, ``pavi://``,
...) are left to mmengine. ``MMKD_SKIP_PRETRAINED_CHECK=1`` turns the check
off.
"""
import functools
import os
import os.path as osp
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator, List, Optional, Tuple

#: schemes mmengine resolves to a download through a table of names
_NAMED = ('open-mmlab://', 'openmmlab://', 'mmcls://')
#: how long one reachability probe may take, in seconds
PROBE_TIMEOUT = 10.


class PretrainedUnavailableError(RuntimeError):
    """A pretrained initialisation named in the config cannot be had."""


def matching_torchvision(torch_version: Optional[str] = None) -> str:
    """The pip requirement of the torchvision built for ``torch_version``
    (the installed torch by default): torch 2.N pairs with torchvision
    0.(N + 15), e.g. torch 2.13 -> ``torchvision==0.28.*``."""
    if torch_version is None:
        import torch
        torch_version = torch.__version__
    major, minor = (int(p) for p in torch_version.split('+')[0].split('.')[:2])
    if major != 2:
        return 'torchvision'
    return f'torchvision==0.{minor + 15}.*'


def find_pretrained(cfg, prefix: str = 'model') -> Iterator[Tuple[str, str]]:
    """``(key, reference)`` for every pretrained initialisation in ``cfg``:
    a ``dict(type='Pretrained', checkpoint=...)`` (key ``....checkpoint``)
    or a ``pretrained=...`` string (key ``....pretrained``). The key is the
    dotted path ``--cfg-options`` takes (list items by index)."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'Pretrained' and isinstance(
                cfg.get('checkpoint'), str):
            yield f'{prefix}.checkpoint', cfg['checkpoint']
        if isinstance(cfg.get('pretrained'), str):
            yield f'{prefix}.pretrained', cfg['pretrained']
        for key, value in cfg.items():
            if isinstance(value, (dict, list, tuple)):
                yield from find_pretrained(value, f'{prefix}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from find_pretrained(value, f'{prefix}.{i}')


def hub_cache_file(url: str) -> str:
    """Where mmengine's download of ``url`` lands (torch's hub cache)."""
    import torch.hub
    name = osp.basename(urllib.parse.urlparse(url).path)
    return osp.join(torch.hub.get_dir(), 'checkpoints', name)


@functools.lru_cache(maxsize=None)
def _unreachable(url: str) -> Optional[str]:
    """Why ``url`` cannot be fetched now, or None when it answers."""
    request = urllib.request.Request(url, method='HEAD')
    try:
        urllib.request.urlopen(request, timeout=PROBE_TIMEOUT).close()
    except urllib.error.HTTPError as e:
        if e.code in (403, 405):  # a server that refuses HEAD: it is there
            return None
        return f'HTTP {e.code} {e.reason}'
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, 'reason', e))
    return None


def _torchvision_url(name: str) -> Tuple[Optional[str], Optional[str]]:
    """(url, None) of torchvision's weights called ``name``, or (None, why
    torchvision cannot say)."""
    try:
        from mmengine.runner.checkpoint import get_torchvision_models
        urls = get_torchvision_models()  # imports torchvision
    except Exception as e:  # ImportError, or a build that does not load
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        why = ('torchvision is not installed' if isinstance(
            e, ModuleNotFoundError) else
               f'torchvision does not import ({type(e).__name__}: {first})')
        return None, why
    if name not in urls:
        return None, f'torchvision has no weights called {name!r}'
    return urls[name], None


def _openmmlab_url(reference: str) -> Tuple[Optional[str], Optional[str]]:
    from mmengine.runner.checkpoint import (get_deprecated_model_names,
                                            get_external_models,
                                            get_mmcls_models)
    scheme, name = reference.split('://', 1)
    if scheme == 'mmcls':
        table = get_mmcls_models()
    else:
        table = get_external_models()
        name = get_deprecated_model_names().get(name, name)
    if name not in table:
        return None, f'mmengine knows no {scheme}:// model called {name!r}'
    url = table[name]
    if url.startswith(('http://', 'https://')):
        return url, None
    return None, None  # a path under mmengine's home: checked as a file


def problem_with(reference: str) -> Optional[str]:
    """Why ``reference`` (a checkpoint string of an ``init_cfg``) cannot be
    loaded now, or None when it can (or is not ours to judge)."""
    url, why = None, None
    if reference.startswith('torchvision://'):
        url, why = _torchvision_url(reference[len('torchvision://'):])
        if why is not None:
            return (f'{why}; install the torchvision built for the '
                    f"installed torch: pip install '{matching_torchvision()}'")
    elif reference.startswith(_NAMED):
        url, why = _openmmlab_url(reference)
        if why is not None:
            return why
    elif reference.startswith(('http://', 'https://')):
        url = reference
    elif '://' in reference:
        return None  # s3://, pavi://, ...: mmengine's own loaders
    else:
        return None if osp.isfile(reference) else 'no such file'
    if url is None or osp.isfile(hub_cache_file(url)):
        return None
    reason = _unreachable(url)
    if reason is None:
        return None
    return (f'{url} cannot be fetched ({reason}) and is not in the hub '
            f'cache ({hub_cache_file(url)}); download it where you can and '
            'put it there')


def check_pretrained(model_cfg, prefix: str = 'model') -> None:
    """Raise :class:`PretrainedUnavailableError` naming every pretrained
    initialisation under ``model_cfg`` that cannot be had now (see the
    module docstring); nothing when all can, or when
    ``MMKD_SKIP_PRETRAINED_CHECK=1``."""
    if os.environ.get('MMKD_SKIP_PRETRAINED_CHECK') == '1':
        return
    problems: List[str] = []
    for key, reference in find_pretrained(model_cfg, prefix):
        why = problem_with(reference)
        if why is not None:
            problems.append(
                f'- {key} = {reference!r}: {why}. Or point it at a local '
                f'file: --cfg-options {key}=/path/to/weights.pth')
    if problems:
        raise PretrainedUnavailableError(
            'the model starts from pretrained weights that cannot be had '
            'on this machine:\n' + '\n'.join(problems) +
            '\n(Set MMKD_SKIP_PRETRAINED_CHECK=1 to skip this check; the '
            "run will then stop in init_weights.)")


def check_run_pretrained(cfg) -> None:
    """:func:`check_pretrained` on what a run initialises: the student of a
    distiller config (``model.student``), else the model itself. The
    teacher is left out: it loads its own checkpoint."""
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    if not isinstance(model, dict):
        return
    if isinstance(model.get('student'), dict):
        check_pretrained(model['student'], 'model.student')
    else:
        check_pretrained(model, 'model')
