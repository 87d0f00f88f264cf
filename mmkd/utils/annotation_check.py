# Copyright (c) mmkd contributors. All rights reserved.
"""Name an annotation file that holds nothing to train on, before the
datasets are built (mmdet's own error is numpy's "need at least one array
to concatenate", from deep inside dataset serialisation)."""
import json
import mmap
import os.path as osp
import re
from typing import Iterator, Optional, Tuple

from .data_root import expand_data_root

# the start of a COCO file's top-level image list, and the character after
_IMAGES = re.compile(rb'"images"\s*:\s*\[\s*(\S)')


def _datasets(cfg) -> Iterator[dict]:
    if not isinstance(cfg, dict):
        return
    yield cfg
    if isinstance(cfg.get('dataset'), dict):
        yield from _datasets(cfg['dataset'])
    for item in cfg.get('datasets', []) or []:
        yield from _datasets(item)


def annotation_path(dataset: dict) -> Optional[str]:
    """The annotation file a dataset config reads, resolved against its
    ``data_root`` as mmengine's BaseDataset does; None when it names none
    or a remote one."""
    ann = dataset.get('ann_file')
    if not isinstance(ann, str) or not ann or '://' in ann:
        return None
    root = expand_data_root(dataset.get('data_root'))
    if root and not osp.isabs(ann):
        ann = osp.join(root, ann)
    return ann


def coco_image_list_is_empty(path: str) -> bool:
    """True when the JSON file at ``path`` has a top-level ``"images": []``.
    Scans the raw bytes (memory-mapped, no parse), so a large valid
    annotation file costs next to nothing: the image list comes first in
    COCO files."""
    if osp.getsize(path) == 0:
        return False
    with open(path, 'rb') as f, \
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        match = _IMAGES.search(data)
        return match is not None and match.group(1) == b']'


def _counts(path: str) -> Tuple[int, int, int]:
    with open(path, encoding='utf-8') as f:
        ann = json.load(f)
    return tuple(
        len(ann.get(key) or [])
        for key in ('images', 'annotations', 'categories'))


def check_annotation_files(cfg, loaders: Tuple[str, ...]) -> None:
    """Raise a ValueError naming an existing annotation file of the given
    data loaders that is empty or, in COCO format, lists no images, with
    what it holds and how to fix it. Missing files are left to the dataset
    (its data root is checked separately)."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _datasets(loader_cfg.get('dataset', {})):
            path = annotation_path(ds)
            if path is None or not osp.isfile(path) or \
                    not path.endswith('.json'):
                continue
            fix = (f'Point {loader}.dataset.ann_file at an annotation file '
                   'with images (the synthetic sets are made by `python '
                   'tools/misc/make_shapes.py coco OUT_DIR`), or redo the '
                   'conversion that wrote this one.')
            if osp.getsize(path) == 0:
                raise ValueError(
                    f'{loader}: annotation file {path} is empty (0 bytes): '
                    f'it holds no images and no annotations. {fix}')
            if coco_image_list_is_empty(path):
                images, annotations, categories = _counts(path)
                raise ValueError(
                    f'{loader}: annotation file {path} holds {images} '
                    f'images and {annotations} annotations ({categories} '
                    'categories): there is nothing to '
                    f'{"train on" if loader.startswith("train") else "test"}'
                    f' (the dataset would fail with "need at least one array '
                    f'to concatenate"). {fix}')
