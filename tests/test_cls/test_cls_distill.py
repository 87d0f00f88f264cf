# Copyright (c) mmkd contributors. All rights reserved.
"""The MNIST benchmark configs (configs/cls/mnist/) train and evaluate
through the real Runner, as tools/train.py builds it, on a small slice of
MNIST: a teacher trained for one epoch by a real Runner, then the student
distilled with each logit loss (KD, DKD, RLD, LDRLD, each also with logit
standardisation) and with LSH."""
import math
import os.path as osp

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from real_data_utils import real_data

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.utils import load_config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
MNIST_CFGS = osp.join(REPO, 'configs', 'cls', 'mnist')
TEACHER_CFG = osp.join(MNIST_CFGS, 'convnet-l_mnist.py')
PAIR = 'convnet-l_convnet-s_mnist.py'
NUM_TRAIN, NUM_VAL, BATCH = 64, 32, 16  # 4 training iterations
ITERS = NUM_TRAIN // BATCH
# config prefix -> (distill entry name, warm-up iterations of the config's
# DistillWeightScheduleHook or None)
METHODS = {
    'kd': ('head.fc', None),
    'kd-ls': ('head.fc', None),
    'dkd': ('head.fc', 125),
    'dkd-ls': ('head.fc', 125),
    'rld': ('head.fc', 125),
    'rld-ls': ('head.fc', 125),
    'ldrld': ('head.fc', None),
    'ldrld-ls': ('head.fc', None),
    'lsh': ('head.pre_logits', None),
}


def small_cfg(path: str, work_dir: str, mnist_root: str):
    """The config at ``path``, trained for 1 epoch on the first NUM_TRAIN
    training images and validated on the first NUM_VAL val images."""
    cfg = load_config(path)
    for name, num in (('train_dataloader', NUM_TRAIN), ('val_dataloader',
                                                        NUM_VAL)):
        loader = cfg[name]
        loader.batch_size = min(BATCH, num) if name == 'train_dataloader' \
            else num
        loader.dataset.data_root = mnist_root
        loader.dataset.indices = num
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = 1
    for sched in cfg.param_scheduler:
        sched.T_max = sched.end = 1
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.randomness = dict(seed=0)
    return prepare_train_cfg(cfg, config_path=path, work_dir=work_dir)


@pytest.fixture(scope='module')
def mnist_root():
    return real_data('mnist')


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory, mnist_root):
    work_dir = str(tmp_path_factory.mktemp('cls_teacher'))
    runner = build_runner(small_cfg(TEACHER_CFG, work_dir, mnist_root))
    runner.train()
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    return ckpt


@pytest.mark.parametrize('method', list(METHODS))
def test_mnist_distill_config_trains_and_evaluates(method, teacher_ckpt,
                                                   mnist_root, tmp_path):
    entry, warmup_iters = METHODS[method]
    cfg = small_cfg(
        osp.join(MNIST_CFGS, f'{method}_{PAIR}'), str(tmp_path), mnist_root)
    cfg.model.teacher.config = TEACHER_CFG
    cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    runner = build_runner(cfg)
    runner.train()
    hub = runner.message_hub

    # the distillation loss of the config's entry was logged, finite, > 0
    loss = hub.get_scalar(f'train/distill.{entry}.loss').current()
    assert math.isfinite(loss) and loss > 0
    assert math.isfinite(hub.get_scalar('train/loss_cls').current())
    # the config's warm-up ran: the weight after ITERS iterations
    if warmup_iters is None:
        assert 'train/distill_weight' not in hub.log_scalars
    else:
        weight = hub.get_scalar('train/distill_weight').current()
        assert weight == pytest.approx(ITERS / warmup_iters)

    # validated after the epoch
    acc = hub.get_scalar('val/accuracy/top1').current()
    # a few iterations on MNIST: 3-19 % measured per method (chance 10 %)
    assert isinstance(acc, float) and acc > 0

    # the teacher was loaded from the Runner-made checkpoint and stayed
    # frozen through training
    saved = _load_checkpoint(teacher_ckpt, map_location='cpu')['state_dict']
    teacher_state = runner.model.teacher.state_dict()
    assert set(saved) == set(teacher_state)
    for key, value in saved.items():
        assert torch.equal(teacher_state[key], value), key

    if method.startswith('kd'):  # the KD recipe's 0.1 CE
        assert runner.model.student.head.loss_module.loss_weight == 0.1
    if method == 'lsh':  # LSHMedianBiasHook initialised the hash
        lsh = runner.model.distill_entries[0].losses[0]
        assert bool(lsh.initialized)
        assert lsh.proj_bias.abs().sum() > 0
