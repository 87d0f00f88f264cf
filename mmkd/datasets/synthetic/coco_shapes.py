# Copyright (c) mmkd contributors. All rights reserved.
"""A synthetic detection set of coloured shapes, written in the COCO layout::

    <out_dir>/
        annotations/instances_train.json
        annotations/instances_val.json
        train/000000000001.png ...
        val/000000000001.png ...
        meta.json

mmdet's ``CocoDataset`` reads it unchanged (``data_root=out_dir,
ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
metainfo=dict(classes=COCO_SHAPES_CLASSES)``) and ``CocoMetric`` evaluates it.
"""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from .shapes import (SHAPE_CLASSES, GeneratedSet, check_common_args, image_rng,
                     paint_shapes, place_shapes, save_png, textured_background,
                     to_uint8, write_json)

#: Class names of the default (4-class) set, for ``metainfo=dict(classes=)``.
COCO_SHAPES_CLASSES: Tuple[str, ...] = SHAPE_CLASSES[:4]

_FORMAT_VERSION = 1  # bump when the drawing changes, to regenerate sets


def coco_shapes_classes(num_classes: int = 4) -> Tuple[str, ...]:
    """Class names of a set made with ``num_classes`` classes."""
    if not 1 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(f'num_classes must be in [1, {len(SHAPE_CLASSES)}] '
                         f'(the shapes {SHAPE_CLASSES}), got {num_classes}.')
    return SHAPE_CLASSES[:num_classes]


def _split_info(split: str, num_images: int, num_objects: int) -> dict:
    return dict(ann_file=f'annotations/instances_{split}.json',
                img_prefix=f'{split}/', num_images=num_images,
                num_objects=num_objects)


def _result(root: Path, classes, meta: dict, generated: bool) -> dict:
    out = dict(
        data_root=str(root), classes=tuple(classes), generated=generated)
    for split, (n_img, n_obj) in meta['stats'].items():
        out[split] = _split_info(split, n_img, n_obj)
    return out


def make_coco_shapes(out_dir, num_train: int = 64, num_val: int = 16,
                     img_size: Sequence[int] = (128, 128),
                     num_classes: int = 4, seed: int = 0, min_objects: int = 1,
                     max_objects: int = 4, min_size: float = 12.,
                     classes: Optional[Sequence[str]] = None) -> dict:
    """Write (or reuse) a COCO-format detection set of shapes.

    Each image has a textured background and ``min_objects`` to
    ``max_objects`` non-touching shapes (fewer when they do not fit, never
    none) of circumscribed diameter from ``min_size`` to half the shorter
    image side. Annotations carry a tight ``bbox`` ``[x, y, w, h]``, the
    painted pixel ``area``, ``iscrowd=0`` and the drawn polygon as
    ``segmentation``. Category ids start at 1, image and annotation ids at 1
    in each split.

    The output is a pure function of the arguments: the same ``seed`` writes
    the same bytes. When ``out_dir/meta.json`` records the same arguments,
    nothing is written.

    Args:
        out_dir: folder of the set (created if needed). It must be empty,
            new, or hold a set written by this function.
        num_train, num_val: number of images per split.
        img_size: ``(height, width)``.
        num_classes: how many of :data:`SHAPE_CLASSES` to use.
        seed: the random seed.
        min_objects, max_objects: range of shapes per image.
        min_size: smallest shape diameter in pixels.
        classes: the shapes (names from :data:`SHAPE_CLASSES`) of the
            class slots, in order, instead of the first ``num_classes``
            (e.g. ``('square', 'circle', 'star', 'triangle')``: the same
            shapes, other slots; a model trained on it detects the shapes
            of the default set under other labels).

    Returns:
        dict: ``data_root`` (absolute), ``classes``, ``generated`` (False
        when an existing set was reused) and, per split,
        ``{'ann_file', 'img_prefix', 'num_images', 'num_objects'}`` with paths
        relative to ``data_root``.
    """
    if classes is None:
        classes = coco_shapes_classes(num_classes)
    else:
        classes = tuple(classes)
        unknown = [c for c in classes if c not in SHAPE_CLASSES]
        if unknown or not classes or len(set(classes)) != len(classes):
            raise ValueError(
                f'classes={classes!r}: give distinct names from '
                f'{SHAPE_CLASSES}' +
                (f' ({unknown} are not shapes)' if unknown else ''))
        num_classes = len(classes)
    height, width = check_common_args(num_train, num_val, img_size,
                                      min_objects, max_objects, min_size)
    params = dict(format_version=_FORMAT_VERSION, num_train=num_train,
                  num_val=num_val, img_size=[height, width],
                  num_classes=num_classes, seed=seed, min_objects=min_objects,
                  max_objects=max_objects, min_size=min_size)
    if classes != coco_shapes_classes(num_classes):
        params['classes'] = list(classes)
    store = GeneratedSet(out_dir, 'coco_shapes', params,
                         owned=('annotations', 'train', 'val'))
    meta = store.existing()
    if meta is not None:
        return _result(store.root, classes, meta, generated=False)

    store.prepare()
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(classes)
    ]
    stats = {}
    for split, num_images in (('train', num_train), ('val', num_val)):
        (store.root / split).mkdir()
        images, annotations = [], []
        for index in range(num_images):
            rng = image_rng(seed, split, index)
            canvas = textured_background(rng, height, width)
            instances = place_shapes(
                rng, height, width, classes,
                int(rng.integers(min_objects, max_objects + 1)),
                min_size=min_size, max_size=min(height, width) / 2.)
            paint_shapes(rng, canvas, instances, classes)
            img_id = index + 1
            file_name = f'{img_id:012d}.png'
            save_png(to_uint8(canvas), store.root / split / file_name)
            images.append(
                dict(id=img_id, file_name=file_name, height=height,
                     width=width))
            for inst in instances:
                annotations.append(
                    dict(
                        id=len(annotations) + 1, image_id=img_id,
                        category_id=inst.label + 1, bbox=inst.bbox,
                        area=inst.area, iscrowd=0, segmentation=[
                            np.round(inst.polygon, 2).ravel().tolist()
                        ]))
        write_json(
            dict(
                info=dict(description='mmkd synthetic COCO shapes',
                          version=str(_FORMAT_VERSION)), licenses=[],
                images=images, annotations=annotations, categories=categories),
            store.root / 'annotations' / f'instances_{split}.json')
        stats[split] = [num_images, len(annotations)]
    meta = store.finish(stats)
    return _result(store.root, classes, meta, generated=True)
