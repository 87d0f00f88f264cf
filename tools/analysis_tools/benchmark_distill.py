# Copyright (c) mmkd contributors. All rights reserved.
"""Time and memory of a distillation config, part by part.

    python tools/analysis_tools/benchmark_distill.py CONFIG [--iters 10]
        [--batch-size 2] [--img-size H W] [--device cpu|cuda]
        [--avatars 1 4 8 16]

Prints per-iteration time (median) and peak memory of
 (a) the student's own train step (forward, backward, SGD step),
 (b) the teacher's partial forward (stopped after the deepest distilled
     module),
 (c) the distillation train step (both, plus the losses),
and the overhead ratio c / (a + b). Inputs are random images of the given
size with random ground truth (boxes or label maps), so no data set is
needed; the teacher keeps random weights (timing only). With ``--avatars``
every AvatarLoss of the config is timed with each N, and every other entry
loss is wrapped in AvatarLoss (AKD over the same base) to compare with the
base loss alone.
"""
import argparse
import copy
import os.path as osp
import resource
import statistics
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import mmkd  # noqa: E402,F401
from mmkd.registry import MODELS  # noqa: E402
from mmkd.utils import load_config  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--img-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--avatars', type=int, nargs='*', default=None,
                        help='AKD: time these numbers of avatars')
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args()


def fake_batch(task: str, batch_size: int, img_size, num_classes: int,
               generator: torch.Generator):
    """A raw (un-preprocessed) batch with random images and ground truth."""
    h, w = img_size
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                            generator=generator) for _ in range(batch_size)]
    samples = []
    for _ in range(batch_size):
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    scale_factor=(1., 1.), batch_input_shape=(h, w))
        if task == 'det':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData
            n = 4
            xy = torch.rand(n, 2, generator=generator) * torch.tensor(
                [w * 0.6, h * 0.6])
            wh = (0.1 + 0.3 * torch.rand(n, 2, generator=generator)
                  ) * torch.tensor([w, h])
            inst = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, num_classes, (n, ),
                                     generator=generator))
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = inst
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, h, w), generator=generator))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def task_of(student_cfg) -> tuple:
    if 'decode_head' in student_cfg:
        return 'seg', student_cfg.decode_head.num_classes
    head = student_cfg.get('bbox_head') or student_cfg.roi_head.bbox_head
    return 'det', head.num_classes


def default_img_size(cfg):
    size = cfg.model.student.data_preprocessor.get('size')
    if size:
        return tuple(size)
    for t in cfg.train_dataloader.dataset.get('pipeline', []):
        if t.get('type') == 'Resize':
            w, h = t['scale']
            return (h, w)
    return (512, 512)


def timed(fn, iters, warmup, device):
    sync = (torch.cuda.synchronize if device.startswith('cuda') else
            (lambda: None))
    for _ in range(warmup):
        fn()
    sync()
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return statistics.median(times), peak


def build(cfg, device):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.checkpoint = None
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg)
    model.to(device).train()
    return model


def measure(cfg, args, batch):
    device = args.device
    model = build(cfg, device)
    student = model.student
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    plain_opt = build_optim_wrapper(
        student, dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9)))
    distill_opt = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9)))

    def student_step():
        losses = student(inputs, samples, mode='loss')
        loss, _ = student.parse_losses(losses)
        plain_opt.update_params(loss)

    def teacher_forward():
        model._teacher_outputs(inputs, samples)

    def distill_step():
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        distill_opt.update_params(loss)

    rows = {}
    for name, fn in (('a', student_step), ('b', teacher_forward),
                     ('c', distill_step)):
        rows[name] = timed(fn, args.iters, args.warmup, device)
    return rows


def with_avatars(cfg, num: int):
    cfg = copy.deepcopy(cfg)
    for entry in cfg.model.distill:
        loss = entry.loss
        if str(loss.type).endswith('AvatarLoss'):
            loss.num_avatars = num
        else:
            entry.loss = dict(type='mmkd.AvatarLoss', base=loss,
                              num_avatars=num)
    return cfg


def base_only(cfg):
    cfg = copy.deepcopy(cfg)
    for entry in cfg.model.distill:
        if str(entry.loss.type).endswith('AvatarLoss'):
            entry.loss = entry.loss.base
    return cfg


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    task, num_classes = task_of(cfg.model.student)
    img_size = tuple(args.img_size or default_img_size(cfg))
    gen = torch.Generator().manual_seed(0)
    batch = fake_batch(task, args.batch_size, img_size, num_classes, gen)
    print(f'config: {args.config}\ndevice: {args.device}, threads: '
          f'{torch.get_num_threads()}, batch {args.batch_size} x {img_size}'
          f', {args.iters} timed iterations (median)')
    mem = 'GPU peak alloc' if args.device.startswith('cuda') else \
        'process peak RSS'
    if args.avatars is None:
        rows = measure(cfg, args, batch)
        print(f'| part | ms/iter | {mem} (MiB) |\n|---|---:|---:|')
        names = dict(a='(a) student train step',
                     b='(b) teacher partial forward',
                     c='(c) distillation train step')
        for key, (sec, peak) in rows.items():
            print(f'| {names[key]} | {sec * 1e3:.1f} | {peak:.0f} |')
        ratio = rows['c'][0] / (rows['a'][0] + rows['b'][0])
        print(f'| c / (a + b) | {ratio:.3f} | |')
        return
    base = measure(base_only(cfg), args, batch)['c'][0]
    print(f'| distill step | ms/iter | x base |\n|---|---:|---:|')
    print(f'| base loss, no avatars | {base * 1e3:.1f} | 1.000 |')
    for num in args.avatars:
        sec = measure(with_avatars(cfg, num), args, batch)['c'][0]
        print(f'| AKD, N = {num} | {sec * 1e3:.1f} | {sec / base:.3f} |')


if __name__ == '__main__':
    main()
