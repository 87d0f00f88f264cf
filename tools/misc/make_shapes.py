# Copyright (c) mmkd contributors. All rights reserved.
"""Write a synthetic shapes data set in the COCO or Cityscapes layout.

Examples::

    python tools/misc/make_shapes.py coco data/coco_shapes
    python tools/misc/make_shapes.py cityscapes data/cityscapes_shapes \\
        --num-train 32 --num-val 8 --size 128 256 --seed 0

Prints the returned description (data root, class names, per-split paths)
as JSON. Running it again with the same arguments writes nothing.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmkd.datasets.synthetic import make_cityscapes_shapes, make_coco_shapes

_DEFAULTS = {
    'coco': dict(num_train=64, num_val=16, size=(128, 128)),
    'cityscapes': dict(num_train=32, num_val=8, size=(128, 256)),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('layout', choices=sorted(_DEFAULTS),
                        help='which data set layout to write')
    parser.add_argument('out_dir', help='output folder (data root)')
    parser.add_argument('--num-train', type=int, default=None,
                        help='training images (coco: 64, cityscapes: 32)')
    parser.add_argument('--num-val', type=int, default=None,
                        help='validation images (coco: 16, cityscapes: 8)')
    parser.add_argument(
        '--size', type=int, nargs=2, default=None, metavar=('H', 'W'),
        help='image height and width (coco: 128 128, '
        'cityscapes: 128 256)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='coco only: number of shape classes (4)')
    parser.add_argument(
        '--classes', nargs='+', default=None, metavar='SHAPE',
        help='coco only: the shapes of the class slots, in order (e.g. '
        'square circle star triangle; default: the first --num-classes of '
        'circle square triangle star cross ellipse)')
    parser.add_argument('--max-objects', type=int, default=None,
                        help='most shapes per image (coco: 4, cityscapes: 6)')
    args = parser.parse_args(argv)
    if args.layout != 'coco' and args.classes is not None:
        parser.error('--classes applies to the coco layout only')
    if args.classes is not None and args.num_classes is not None:
        parser.error('give --classes or --num-classes, not both')
    if args.layout != 'coco' and args.num_classes is not None:
        parser.error('--num-classes applies to the coco layout only (the '
                     'cityscapes layout always draws 4 shapes).')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    defaults = _DEFAULTS[args.layout]
    kwargs = dict(
        num_train=(defaults['num_train']
                   if args.num_train is None else args.num_train),
        num_val=defaults['num_val'] if args.num_val is None else args.num_val,
        img_size=tuple(defaults['size'] if args.size is None else args.size),
        seed=args.seed)
    if args.max_objects is not None:
        kwargs['max_objects'] = args.max_objects
    if args.layout == 'coco':
        info = make_coco_shapes(
            args.out_dir,
            num_classes=4 if args.num_classes is None else args.num_classes,
            classes=args.classes, **kwargs)
    else:
        info = make_cityscapes_shapes(args.out_dir, **kwargs)
    print(json.dumps(info, indent=2))
    return info


if __name__ == '__main__':
    main()
