# Copyright (c) mmkd contributors. All rights reserved.
"""Peak memory of the teachers of a several-teacher config in one step.

    python tools/benchmark_teachers.py CONFIG [--batch-size 8]
        [--img-size H W] [--threads 1] [--cfg-options k=v ...]

For a :class:`~mmkd.models.distillers.MultiTeacherDistiller` config (the
teachers keep random weights: memory does not depend on them), on one
batch of random images and boxes, it measures the peak memory above the
start (the torch profiler's running sum of the CPU tensor allocations, as
``tools/benchmark_distill.py`` does) of:

- each teacher alone: its recorded forward, as the distiller runs it, and
  the size of its recording;
- the teachers' part of a distillation step as the distiller runs it: one
  teacher after another, each recording dropped once the losses of the
  entries that read it are computed (an ensemble entry keeps its levels of
  each teacher until the last has run), the losses included;
- all recordings at once (:meth:`teacher_outputs`, then the losses): what
  running every teacher before any loss would hold.

and prints them with the bound the distiller promises: the largest
teacher alone plus the recordings of the other teachers (an upper bound of
the recordings an ensemble keeps while the last teacher runs). The student
runs once before, under ``no_grad``, outside the measurement.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.registry import DefaultScope

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from benchmark_distill import (MiB, cpu_step_peak, default_img_size,
                               fake_batch, task_of)

from mmkd.models.recording.recorder import map_tensors
from mmkd.registry import MODELS
from mmkd.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def recording_bytes(recorded: dict) -> int:
    """Bytes of the tensors a recording holds."""
    total = [0]

    def count(t):
        total[0] += t.numel() * t.element_size()
        return t

    for outs in recorded.values():
        for out in outs:
            map_tensors(out, count)
    return total[0]


def build(cfg):
    model_cfg = cfg.model
    if not str(model_cfg.get('type')).endswith('MultiTeacherDistiller'):
        raise SystemExit(f'{cfg.filename}: not a MultiTeacherDistiller config'
                         ' (tools/benchmark_distill.py measures one teacher)')
    for teacher in model_cfg.teachers.values():
        teacher.checkpoint = None
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg)
    return model.train()


def measure(model, inputs, data_samples) -> dict:
    with torch.no_grad():
        with model.relays_recording(inputs):
            student_out = model.student_recorder.run(model.student, inputs,
                                                     data_samples, 'loss')
    out = dict(alone={}, recording={})
    for slot in model.teacher_slots:
        rec = model.record_teacher(slot, inputs, data_samples)
        out['recording'][slot.name] = recording_bytes(rec) / MiB
        del rec
        out['alone'][
            slot.name] = cpu_step_peak(lambda slot=slot: model.record_teacher(
                slot, inputs, data_samples)) / MiB

    def one_at_a_time():
        batch = model.batch_losses(student_out, data_samples)
        for recorded in model.teacher_recordings(inputs, data_samples):
            batch.add(recorded)
            del recorded
        return batch.result()

    def all_at_once():
        return model.distill_losses_per_level(
            student_out, model.teacher_outputs(inputs, data_samples),
            data_samples)

    with torch.no_grad():
        out['step'] = cpu_step_peak(one_at_a_time) / MiB
        out['all_at_once'] = cpu_step_peak(all_at_once) / MiB
    return out


def report(cfg, args, res: dict, size) -> None:
    names = list(res['alone'])
    largest = max(names, key=res['alone'].get)
    bound = res['alone'][largest] + sum(res['recording'][n]
                                        for n in names if n != largest)
    print(f'{cfg.filename}: {len(names)} teachers, batch {args.batch_size} x '
          f'{size[0]} x {size[1]}, {torch.get_num_threads()} thread(s)\n')
    print('| teachers\' memory in one step | peak MiB |')
    print('|---|---:|')
    for name in names:
        print(
            f'| teacher {name!r} alone (its recording: '
            f'{res["recording"][name]:.1f} MiB) | {res["alone"][name]:.1f} |')
    print(f'| the largest alone + the others\' recordings (the bound) | '
          f'{bound:.1f} |')
    print(f'| the teachers in a step, one after another (mmkd) | '
          f'{res["step"]:.1f} |')
    print(f'| every teacher recorded before any loss | '
          f'{res["all_at_once"]:.1f} |')
    print(
        f'| the sum of the teachers alone | {sum(res["alone"].values()):.1f} '
        '|')


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    model = build(cfg)
    size = tuple(args.img_size) if args.img_size else default_img_size(cfg)
    task, num_classes = task_of(cfg.model.student)
    batch = fake_batch(task, args.batch_size, size, num_classes,
                       torch.Generator().manual_seed(0))
    data = model.data_preprocessor(batch, True)
    report(cfg, args, measure(model, data['inputs'], data['data_samples']),
           size)


if __name__ == '__main__':
    main()
