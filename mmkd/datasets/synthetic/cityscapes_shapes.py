# Copyright (c) mmkd contributors. All rights reserved.
"""A synthetic semantic-segmentation set of shapes, written in the Cityscapes
layout::

    <out_dir>/
        leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
        gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png
        meta.json

Labels are Cityscapes train ids (0..18, 255 = ignore): a sky band
(``sky``) above a textured ground (``road``), shapes mapped to a few object
classes (:data:`CITYSCAPES_SHAPE_TRAIN_IDS`), and an ``ego vehicle`` band
along the bottom that is ignored, as in Cityscapes. mmseg's
``CityscapesDataset`` reads it unchanged (``data_root=out_dir,
data_prefix=dict(img_path='leftImg8bit/train',
seg_map_path='gtFine/train')``) and ``IoUMetric`` evaluates it.
"""
from typing import Dict, Sequence

import numpy as np

from .shapes import (GeneratedSet, check_common_args, image_rng, paint_shapes,
                     place_shapes, save_png, textured_background, to_uint8)

#: The 19 Cityscapes training classes, in train-id order (mmseg's order).
CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
                      'traffic light', 'traffic sign', 'vegetation', 'terrain',
                      'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
                      'motorcycle', 'bicycle')
#: Train id of each shape drawn in the segmentation set.
CITYSCAPES_SHAPE_TRAIN_IDS: Dict[str, int] = {
    'circle': 7,  # traffic sign
    'square': 13,  # car
    'triangle': 8,  # vegetation
    'star': 11,  # person
}
ROAD_TRAIN_ID = 0
SKY_TRAIN_ID = 10
IGNORE_INDEX = 255
#: Every train id that can appear in the synthetic set (besides 255).
CITYSCAPES_SHAPES_TRAIN_IDS = tuple(
    sorted({ROAD_TRAIN_ID, SKY_TRAIN_ID,
            *CITYSCAPES_SHAPE_TRAIN_IDS.values()}))

_SHAPES = tuple(CITYSCAPES_SHAPE_TRAIN_IDS)
_TRAIN_CITIES = ('shapesburg', 'polygonville')
_VAL_CITIES = ('circleton', )
_FORMAT_VERSION = 1


def _split_info(split: str, num_images: int) -> dict:
    return dict(img_path=f'leftImg8bit/{split}',
                seg_map_path=f'gtFine/{split}', num_images=num_images)


def _result(root, meta: dict, generated: bool) -> dict:
    out = dict(
        data_root=str(root), classes=CITYSCAPES_CLASSES,
        shape_train_ids=dict(CITYSCAPES_SHAPE_TRAIN_IDS),
        present_train_ids=CITYSCAPES_SHAPES_TRAIN_IDS, generated=generated)
    for split, num_images in meta['stats'].items():
        out[split] = _split_info(split, num_images)
    return out


def _draw_scene(rng: np.random.Generator, height: int, width: int,
                min_objects: int, max_objects: int, min_size: float,
                ego_frac: float):
    """One (image, train-id label map) pair."""
    horizon = int(round(height * rng.uniform(0.3, 0.5)))
    ego_top = height - int(round(height * ego_frac))
    image = textured_background(rng, height, width, low=60., high=160.,
                                noise_std=(6., 14.))  # ground
    sky = textured_background(rng, horizon, width, low=140., high=250.,
                              noise_std=(2., 5.))
    sky[..., 2] = np.maximum(sky[..., 2], sky[..., :2].max(-1))  # bluish
    image[:horizon] = sky
    image[ego_top:] = 25. + rng.normal(0., 3., size=image[ego_top:].shape)
    label = np.full((height, width), ROAD_TRAIN_ID, dtype=np.uint8)
    label[:horizon] = SKY_TRAIN_ID
    label[ego_top:] = IGNORE_INDEX

    allowed = np.zeros((height, width), dtype=bool)
    allowed[:ego_top] = True
    instances = place_shapes(rng, height, width, _SHAPES,
                             int(rng.integers(min_objects, max_objects + 1)),
                             min_size=min_size,
                             max_size=min(height, width) / 2., allowed=allowed)
    paint_shapes(rng, image, instances, _SHAPES)
    for inst in instances:
        label[inst.mask] = CITYSCAPES_SHAPE_TRAIN_IDS[_SHAPES[inst.label]]
    return to_uint8(image), label


def make_cityscapes_shapes(out_dir, num_train: int = 32, num_val: int = 8,
                           img_size: Sequence[int] = (128, 256), seed: int = 0,
                           min_objects: int = 1, max_objects: int = 6,
                           min_size: float = 12.,
                           ego_frac: float = 0.06) -> dict:
    """Write (or reuse) a Cityscapes-layout segmentation set of shapes.

    Images are split over a few made-up cities per split; names follow
    ``<city>_<seq:06d>_<frame:06d>``. Each label map holds train ids
    ``{road, sky}`` plus the ids of the shapes drawn (at least one shape per
    image), and 255 over the bottom ``ego_frac`` of the rows.

    The output is a pure function of the arguments: the same ``seed`` writes
    the same bytes. When ``out_dir/meta.json`` records the same arguments,
    nothing is written.

    Args:
        out_dir: folder of the set (created if needed). It must be empty,
            new, or hold a set written by this function.
        num_train, num_val: number of images per split.
        img_size: ``(height, width)``; Cityscapes itself is 1:2.
        seed: the random seed.
        min_objects, max_objects: range of shapes per image.
        min_size: smallest shape diameter in pixels.
        ego_frac: fraction of rows at the bottom labelled 255 (ignore).

    Returns:
        dict: ``data_root`` (absolute), ``classes`` (the 19 Cityscapes
        classes), ``shape_train_ids``, ``present_train_ids``, ``generated``
        (False when an existing set was reused) and, per split,
        ``{'img_path', 'seg_map_path', 'num_images'}`` relative to
        ``data_root``.
    """
    height, width = check_common_args(num_train, num_val, img_size,
                                      min_objects, max_objects, min_size)
    if not 0 <= ego_frac <= 0.25:
        raise ValueError(f'ego_frac must be in [0, 0.25], got {ego_frac}.')
    params = dict(format_version=_FORMAT_VERSION, num_train=num_train,
                  num_val=num_val, img_size=[height, width], seed=seed,
                  min_objects=min_objects, max_objects=max_objects,
                  min_size=min_size, ego_frac=ego_frac)
    store = GeneratedSet(out_dir, 'cityscapes_shapes', params,
                         owned=('leftImg8bit', 'gtFine'))
    meta = store.existing()
    if meta is not None:
        return _result(store.root, meta, generated=False)

    store.prepare()
    for split, num_images, cities in (('train', num_train, _TRAIN_CITIES),
                                      ('val', num_val, _VAL_CITIES)):
        for index in range(num_images):
            city = cities[index % len(cities)]
            stem = f'{city}_{index // len(cities):06d}_000019'
            image, label = _draw_scene(
                image_rng(seed, split, index), height, width, min_objects,
                max_objects, min_size, ego_frac)
            save_png(
                image, store.root / 'leftImg8bit' / split / city /
                f'{stem}_leftImg8bit.png')
            save_png(
                label, store.root / 'gtFine' / split / city /
                f'{stem}_gtFine_labelTrainIds.png')
    meta = store.finish(dict(train=num_train, val=num_val))
    return _result(store.root, meta, generated=True)
