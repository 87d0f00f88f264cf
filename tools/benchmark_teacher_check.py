# Copyright (c) mmkd contributors. All rights reserved.
"""What the teacher check costs: its wall time on a config.

    python tools/benchmark_teacher_check.py CONFIG [--num-batches N]
        [--val-images N] [--img-size H W] [--threads T]
        [--work-dir DIR] [--cfg-options k=v ...]

Builds the run of CONFIG as tools/train.py does (teachers with random
weights unless their checkpoints exist, the student's never initialised:
the cost does not depend on them),
on a synthetic shapes set in the layout of the config's validation data
(COCO or Cityscapes; ``--val-images`` images of ``--img-size``, the
config's own size by default; a COCO set carries the config's class names,
so that CocoMetric runs as on the real set), and times
:class:`~mmkd.engine.hooks.TeacherCheckHook` on at most ``--num-batches``
validation batches: in all, and its parts (each teacher's predictions and
metric, the untrained student's). Prints a Markdown row per part.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.hooks import TeacherCheckHook
from mmkd.engine.val_subset import ValSubset
from mmkd.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--num-batches', type=int, default=50)
    parser.add_argument('--val-images', type=int, default=8)
    parser.add_argument('--img-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--work-dir', default='work_dirs/bench_teacher_check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _loaders(cfg):
    return [cfg[k] for k in ('train_dataloader', 'val_dataloader')]


def synthetic_data(cfg, root: str, num_val: int, img_size) -> None:
    """Point the config's data at a shapes set in its layout."""
    from mmkd.datasets.synthetic import (make_cityscapes_shapes,
                                         make_coco_shapes)
    dataset = cfg.val_dataloader.dataset
    kind = str(dataset.type)
    if 'Coco' in kind:
        size = img_size or (800, 1333)
        make_coco_shapes(root, num_train=2, num_val=num_val, img_size=size)
        classes = _coco_classes(cfg)
        ann = osp.join(root, 'annotations', 'instances_val.json')
        with open(ann) as f:
            data = json.load(f)
        # the config's class names in the category slots, so that its
        # CocoDataset and CocoMetric read the set as they read COCO
        data['categories'] = [
            dict(id=i + 1, name=name, supercategory='thing')
            for i, name in enumerate(classes)
        ]
        with open(ann, 'w') as f:
            json.dump(data, f)
        for loader in _loaders(cfg):
            loader.dataset.data_root = root
            loader.dataset.ann_file = 'annotations/instances_val.json'
            loader.dataset.data_prefix = dict(img='val/')
        cfg.val_evaluator.ann_file = ann
    elif 'Cityscapes' in kind:
        size = img_size or (1024, 2048)
        make_cityscapes_shapes(root, num_train=2, num_val=num_val,
                               img_size=size)
        for loader in _loaders(cfg):
            loader.dataset.data_root = root
    else:
        raise SystemExit(f'{kind}: this benchmark makes COCO or Cityscapes '
                         'layouts only')


def _coco_classes(cfg):
    classes = (cfg.val_dataloader.dataset.get('metainfo') or {}).get('classes')
    if classes:
        return list(classes)
    from mmdet.datasets import CocoDataset
    return list(CocoDataset.METAINFO['classes'])


def _untrained(cfg) -> None:
    """Teachers whose checkpoint is not on disk keep random weights."""
    model = cfg.model
    specs = model.get('teachers') or {'': model.get('teacher')}
    for spec in specs.values():
        if spec and not osp.isfile(str(spec.get('checkpoint'))):
            spec.checkpoint = None


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # the weights stay random (never initialised from a pretrained file):
    # the cost does not depend on them
    os.environ.setdefault('MMKD_SKIP_PRETRAINED_CHECK', '1')
    cfg = load_config(args.config, args.cfg_options)
    synthetic_data(cfg, osp.join(args.work_dir, 'data'), args.val_images,
                   tuple(args.img_size) if args.img_size else None)
    _untrained(cfg)
    cfg.teacher_check = dict(enable=False)  # timed here, not by the run
    cfg = prepare_train_cfg(cfg, work_dir=args.work_dir)
    runner = build_runner(cfg)
    model = runner.model
    subset = ValSubset(runner.val_loop, args.num_batches)
    rows = []
    model.eval()
    for name in model.teacher_models():
        _, seconds = timed(lambda n=name: subset.evaluate(
            runner, lambda b: model.predict_teacher(n, b)))
        rows.append((f'teacher {name or ""}'.strip(), seconds))
    with torch.no_grad():
        _, seconds = timed(lambda: subset.evaluate(runner, model.val_step))
    rows.append(('untrained student', seconds))
    hook = TeacherCheckHook(num_batches=args.num_batches)
    _, whole = timed(lambda: hook.check(runner, subset))
    print(f'{args.config}: {subset.describe()}, batch '
          f'{subset.batch_size}, {torch.get_num_threads()} thread(s)\n')
    print('| part of the teacher check | seconds | per sample |')
    print('|---|---:|---:|')
    for part, seconds in rows + [('the whole check', whole)]:
        print(f'| {part} | {seconds:.2f} | '
              f'{seconds / len(subset.indices):.3f} |')


if __name__ == '__main__':
    main()
