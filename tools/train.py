# Copyright (c) mmkd contributors. All rights reserved.
"""Train a model (a plain OpenMMLab model or an mmkd distiller).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import mmkd  # noqa: F401  (registries, safe checkpoint loading)
from mmkd.apis import (add_launch_args, build_runner, parse_launch_args,
                       prepare_train_cfg)
from mmkd.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train with mmkd')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    cfg = prepare_train_cfg(cfg, config_path=args.config,
                            work_dir=args.work_dir, resume=args.resume,
                            amp=args.amp, launcher=args.launcher)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
