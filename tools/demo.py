# Copyright (c) mmkd contributors. All rights reserved.
"""The embedded default: AKD vs its base distiller vs the student alone.

    python tools/demo.py --task det   # `make demo`: RetinaNet, COCO mAP
    python tools/demo.py --task seg   # `make demo-seg`: PSPNet, mIoU
    python tools/demo.py --distill-options \
        model.teacher_exec.memory_format=contiguous   # the plain teacher

Generates the synthetic set, trains the teacher once (a finished teacher is
reused), then the same student three ways with one seed and schedule:
alone, with a base feature distiller (PKD on the FPN levels for detection,
CWD on the logits for segmentation) and with AKD over that base. Prints a table
(metrics and wall time per run), writes a plot of the student's metric over
training and of the distillation losses, and the avatar visualisation of one
image. Re-running skips every finished step made with the same config,
teacher, data and code (demo/pipeline.py); the multi-seed comparison is
`make bench-dense` (tools/bench_dense.py).
"""
import argparse
import os.path as osp
import sys

# the repository root first: its demo/ package, not this script
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import DictAction

from demo.pipeline import DEMO_PRESETS, run_demo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', choices=sorted(DEMO_PRESETS), default='det')
    parser.add_argument(
        '--work-dir', default=None, help='default: work_dirs/demo (det), '
        'work_dirs/demo-seg (seg)')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--quick', action='store_true',
                        help='minimal sizes (a smoke test of the pipeline)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--distill-options', nargs='+', action=DictAction, default=None,
        help='config options merged into the two distillation runs (not '
        'the teacher or the student alone), e.g. '
        'model.teacher_exec.memory_format=contiguous')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run_demo(args.task, work_dir=args.work_dir, data_root=args.data_root,
             quick=args.quick, seed=args.seed,
             distill_options=args.distill_options)


if __name__ == '__main__':
    main()
