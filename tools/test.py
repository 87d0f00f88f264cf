# Copyright (c) mmkd contributors. All rights reserved.
"""Evaluate a checkpoint (a distilled student, or any OpenMMLab model).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]

For a distillation config, the student is evaluated; the checkpoint may be one
written during distillation or a plain student checkpoint (same keys).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import mmkd  # noqa: F401
from mmkd.apis import (add_launch_args, build_runner, parse_launch_args,
                       prepare_test_cfg)
from mmkd.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test with mmkd')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics')
    parser.add_argument(
        '--show-dir',
        help='directory (relative to the work dir) where painted '
        'predictions are saved')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg = prepare_test_cfg(cfg, config_path=args.config,
                           checkpoint=args.checkpoint, work_dir=args.work_dir,
                           show_dir=args.show_dir, launcher=args.launcher)
    runner = build_runner(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
