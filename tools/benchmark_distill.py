# Copyright (c) mmkd contributors. All rights reserved.
"""Time and memory of a distillation config, part by part.

(One file over 400 lines on purpose: a stand-alone command whose parts --
inputs, the timed parts, the report -- serve only it.)

    python tools/benchmark_distill.py CONFIG [--iters 10]
        [--warmup 3] [--batch-size 2] [--img-size H W [H W ...]]
        [--device cpu|cuda[:N]] [--amp fp16|bf16] [--threads T]
        [--clock wall|cpu] [--avatars 1 4 8 16] [--chunk-size K [K ...]]
        [--teacher-options] [--compare CONFIG [CONFIG ...]]
        [--cfg-options k=v ...]

Prints per-iteration time (median) and the peak memory of one step of
 (a) the student's own train step (forward, backward, SGD step),
 (b) the teacher's partial forward (stopped after the deepest distilled
     module),
 (c) the distillation train step (both, plus the losses),
and (b0) the plain fp32 teacher's partial forward (contiguous layout,
BatchNorms as they are, weights not prepacked, no autocast), with the
overhead ratios c / (a + b) and c / (a + b0): with the teacher's execution
options, c can come in below the naive limit a + b0.
With ``--teacher-options`` it times (b) under each teacher execution option
side by side (and under the config's own ``teacher_exec``, if it sets one).
Compilation (``compile=True``) happens in the warm-up iterations.
``--amp fp16|bf16`` runs the parts as a mixed-precision run does: the train
steps with mmengine's ``AmpOptimWrapper`` of that dtype (on the CPU
mmkd's ``CPUAmpOptimWrapper``, bf16 only), the teacher's forward inside
the same autocast (the teacher's ``precision`` option then decides). With
``--avatars`` it compares instead
the distillation step of variants of the config: the base losses alone
(every AvatarLoss replaced by its base) and AKD with each N (every
AvatarLoss set to N avatars, every other entry loss wrapped in AvatarLoss
over it), once per ``--chunk-size`` value if given (set on every
AvatarLoss). With ``--compare`` it times, beside (a) and (b), the
distillation step of the config and of each config given (e.g. CrossKD
against PKD on the same pair), and (h) the student's dense head alone:
its forward on fixed neck features, its loss (one label assignment) and
backward, the yardstick of a head-level method's extra cost
(``c - a - b`` against ``h``).

Inputs are random images of the given size with random ground truth
(boxes or label maps), so no data set is needed; with several sizes
(``--img-size 224 256 256 320 ...``) each part takes them in turn, one
per iteration (warm-up included), as a data set of changing image sizes
does; the teacher keeps random
weights (timing only). The measured parts are timed interleaved (one
iteration of each in turn, repeated), so that a change of the machine's
load during the run hits all of them alike. ``--clock cpu`` times the
CPU time of the process instead of the wall clock (CPU device only): on a
machine shared with other jobs it counts this process's work, not the time
it waited for a core (with one thread it equals the wall time of an idle
machine; with more threads it also counts their spinning).

Peak memory is that of one step above what was allocated when it started
(the step's own activations, gradients and temporaries, not the models and
optimiser state): on CUDA ``torch.cuda.max_memory_allocated(device)`` after
``reset_peak_memory_stats(device)``, for the ``--device`` given (and
timings synchronise that device); on the CPU the running sum of the tensor
allocations and frees the torch profiler records during the step (the
profiled step is an extra, untimed one).
"""
import argparse
import copy
import itertools
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import torch
from mmengine.config import DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmkd  # noqa: F401
from mmkd.registry import MODELS
from mmkd.utils import load_config

MiB = 2**20
AMP_DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument(
        '--img-size', type=int, nargs='+', default=None, metavar='H W',
        help='input size; several pairs (H W H W ...): the '
        'iterations take them in turn, as batches of '
        'changing sizes do')
    parser.add_argument(
        '--device', default='cpu',
        help='cpu, cuda or cuda:N (timings synchronise, and '
        'memory is read on, this device)')
    parser.add_argument(
        '--amp', choices=('fp16', 'bf16'), default=None,
        help='mixed precision as --amp trains: the train '
        'steps with AmpOptimWrapper(dtype), the teacher in '
        'the same autocast')
    parser.add_argument(
        '--avatars', type=int, nargs='*', default=None,
        help='AKD: compare these numbers of avatars with '
        'the base losses alone')
    parser.add_argument(
        '--chunk-size', type=int, nargs='+', default=None,
        help='AKD: chunk_size of every AvatarLoss (several: '
        'one variant per N and chunk size)')
    parser.add_argument(
        '--teacher-options', action='store_true',
        help='compare the teacher execution options '
        '(memory format, autocast) side by side')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, e.g. '
        'model.teacher.config=mmdet::retinanet/'
        'retinanet_r50_fpn_1x_coco.py')
    parser.add_argument(
        '--compare', nargs='+', default=None, metavar='CONFIG',
        help='time the distillation step of these configs (same pair) '
        'beside the config\'s, with the student head alone (h)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                        help='time the wall clock or the process CPU time')
    args = parser.parse_args()
    if args.img_size and len(args.img_size) % 2:
        parser.error('--img-size takes pairs H W, got '
                     f'{args.img_size}')
    if args.clock == 'cpu' and args.device.startswith('cuda'):
        parser.error('--clock cpu times CPU work only; use the wall clock '
                     'with --device cuda')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: CUDA is not available here')
    if args.amp == 'fp16' and not args.device.startswith('cuda'):
        parser.error('--amp fp16 needs --device cuda (CPU autocast runs '
                     'bf16 only)')
    return args


# ------------------------------------------------------------------ inputs
def fake_batch(task: str, batch_size: int, img_size, num_classes: int,
               generator: torch.Generator):
    """A raw (un-preprocessed) batch with random images and ground truth."""
    h, w = img_size
    inputs = [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                      generator=generator) for _ in range(batch_size)
    ]
    samples = []
    for _ in range(batch_size):
        meta = dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
            scale_factor=(1., 1.), batch_input_shape=(h, w))
        if task == 'det':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData
            n = 4
            xy = torch.rand(n, 2, generator=generator) * torch.tensor(
                [w * 0.6, h * 0.6])
            wh = (0.1 + 0.3 *
                  torch.rand(n, 2, generator=generator)) * torch.tensor([w, h])
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
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, num_classes, (1, h,
                                                    w), generator=generator))
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


# ----------------------------------------------------------------- configs
def entries(cfg) -> list:
    """The distill entry configs (the dict or the list form)."""
    distill = cfg.model.distill
    items = distill.values() if isinstance(distill, dict) else distill
    return [entry for entry in items if entry is not None]  # None: dropped


def with_teacher_exec(cfg, **teacher_exec):
    """The config with the teacher's execution options set."""
    cfg = copy.deepcopy(cfg)
    cfg.model.teacher_exec = teacher_exec
    return cfg


def with_avatars(cfg, num: int, chunk_size=None):
    """AKD with ``num`` avatars on every distill entry."""
    cfg = copy.deepcopy(cfg)
    for entry in entries(cfg):
        if not str(entry.loss.type).endswith('AvatarLoss'):
            entry.loss = dict(type='mmkd.AvatarLoss', base=entry.loss)
        entry.loss.num_avatars = num
        if chunk_size is not None:
            entry.loss.chunk_size = chunk_size
    return cfg


def base_only(cfg):
    """Every AvatarLoss replaced by its base loss."""
    cfg = copy.deepcopy(cfg)
    for entry in entries(cfg):
        if str(entry.loss.type).endswith('AvatarLoss'):
            entry.loss = entry.loss.base
    return cfg


# ------------------------------------------------------ the measured parts
def prepare(cfg, args, batches) -> dict:
    """The distiller (random teacher weights, train mode), the
    preprocessed ``batches`` (``(inputs, data_samples)``, one per input
    size) and one SGD optimiser wrapper per trained model: what the part
    functions below need."""
    model_cfg = copy.deepcopy(cfg.model)
    for teacher in (model_cfg.get('teachers') or {}).values():
        teacher.checkpoint = None  # several teachers
    if model_cfg.get('teacher') is not None:
        model_cfg.teacher.checkpoint = None
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg)
    model.to(args.device).train()
    data = [model.data_preprocessor(batch, True) for batch in batches]
    optim = dict(optimizer=dict(type='SGD', lr=1e-4, momentum=0.9))
    if args.amp:
        wrapper = 'AmpOptimWrapper' if args.device.startswith('cuda') \
            else 'mmkd.CPUAmpOptimWrapper'
        optim.update(type=wrapper, dtype=AMP_DTYPES[args.amp])
    return dict(model=model, amp=args.amp, device=args.device, batches=[
        (d['inputs'], d['data_samples']) for d in data
    ], student_optim=build_optim_wrapper(model.student, optim),
                distill_optim=build_optim_wrapper(model, optim))


def student_step(ctx: dict) -> Callable[[], None]:
    """(a) the student's own train step."""
    student = ctx['model'].student
    batches = itertools.cycle(ctx['batches'])

    def step():
        with ctx['student_optim'].optim_context(student):
            losses = student(*next(batches), mode='loss')
        loss, _ = student.parse_losses(losses)
        ctx['student_optim'].update_params(loss)

    return step


def teacher_forward(ctx: dict) -> Callable[[], None]:
    """(b) the teacher's partial forward, as the distiller runs it."""
    model = ctx['model']
    batches = itertools.cycle(ctx['batches'])
    if not ctx['amp']:
        return lambda: model.teacher_outputs(*next(batches))
    device_type = torch.device(ctx['device']).type
    dtype = getattr(torch, AMP_DTYPES[ctx['amp']])

    def forward():
        # inside the train step's autocast, as --amp runs it
        with torch.autocast(device_type=device_type, dtype=dtype):
            return model.teacher_outputs(*next(batches))

    return forward


def distill_step(ctx: dict) -> Callable[[], None]:
    """(c) the distillation train step."""
    model = ctx['model']
    batches = itertools.cycle(ctx['batches'])

    def step():
        with ctx['distill_optim'].optim_context(model):
            losses = model(*next(batches), mode='loss')
        loss, _ = model.parse_losses(losses)
        ctx['distill_optim'].update_params(loss)

    return step


def head_step(ctx: dict) -> Callable[[], None]:
    """(h) the student's dense head alone: forward on fixed (detached)
    neck features, its loss (one label assignment) and backward."""
    student = ctx['model'].student
    inputs, samples = ctx['batches'][0]
    with torch.no_grad():
        feats = [f.detach() for f in student.extract_feat(inputs)]

    def step():
        losses = student.bbox_head.loss([f.requires_grad_() for f in feats],
                                        samples)
        student.parse_losses(losses)[0].backward()

    return step


PARTS = {
    'a': ('(a) student train step', student_step),
    'b': ('(b) teacher partial forward', teacher_forward),
    'c': ('(c) distillation train step', distill_step),
}


# -------------------------------------------------------------- measuring
def synchronize(device: str) -> None:
    """Wait for the work queued on ``device`` (that device, not the current
    one)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def median_times(fns: Dict[str, Callable], iters: int, warmup: int,
                 device: str, clock: str) -> Dict[str, float]:
    """Median seconds per call of each function, timed interleaved."""
    now = time.process_time if clock == 'cpu' else time.perf_counter
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            synchronize(device)
            start = now()
            fn()
            synchronize(device)
            times[name].append(now() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def cpu_step_peak(fn: Callable) -> int:
    """Peak bytes of CPU tensor memory allocated during ``fn()`` above its
    start: the running sum of the allocation (+) and free (-) events the
    torch profiler records."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        fn()
    # the per-allocation events (with their times) are only in the kineto
    # results; the FunctionEvent list folds them into their ops
    events = sorted(
        (e for e in p.profiler.kineto_results.events()
         if e.name() == '[memory]' and e.device_type().name == 'CPU'),
        key=lambda e: e.start_ns())
    now = peak = 0
    for event in events:
        now += event.nbytes()
        peak = max(peak, now)
    return peak


def step_peak(fn: Callable, device: str) -> float:
    """Peak memory (MiB) of one call of ``fn`` above what was allocated
    when it started."""
    if not device.startswith('cuda'):
        return cpu_step_peak(fn) / MiB
    synchronize(device)
    start = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - start) / MiB


def measure(fns: Dict[str, Callable], args) -> Dict[str, Tuple[float, float]]:
    """``{name: (median seconds, peak MiB)}`` of each function."""
    times = median_times(fns, args.iters, args.warmup, args.device, args.clock)
    return {
        name: (times[name], step_peak(fn, args.device))
        for name, fn in fns.items()
    }


# ---------------------------------------------------------------- reports
PLAIN_TEACHER = dict(memory_format='contiguous', fold_batchnorm=False,
                     prepack=False, precision='fp32')
TEACHER_OPTIONS = [
    ('plain fp32 (contiguous, BN as is)', PLAIN_TEACHER),
    ('default (auto: channels_last, BN folded, prepacked, fp32)', dict()),
    ('default + compiled backbone', dict(compile=True)),
    ('channels_last, BN folded, not prepacked', dict(prepack=False)),
    ('channels_last, BN as is, not prepacked',
     dict(PLAIN_TEACHER, memory_format='channels_last')),
    ('contiguous, BN folded', dict(PLAIN_TEACHER, fold_batchnorm=True)),
    ('contiguous, BN as is, bf16 autocast',
     dict(PLAIN_TEACHER, precision='bf16')),
    ('channels_last, BN folded, bf16 autocast', dict(precision='bf16')),
]
# under --amp: the default follows the run's autocast; fp32 keeps fp32
AMP_TEACHER_OPTIONS = [
    ('plain fp32 (contiguous, BN as is)', PLAIN_TEACHER),
    ("default (precision 'auto': the run's autocast)", dict()),
    ("default with precision 'fp32'", dict(precision='fp32')),
    ("contiguous, BN as is, precision 'auto'",
     dict(PLAIN_TEACHER, precision='auto')),
]


def report_parts(cfg, args, batches) -> None:
    """(a), (b) and (c) with the config's teacher options, plus (b) of the
    plain fp32 teacher, the naive limit's b."""
    ctx = prepare(cfg, args, batches)
    plain = prepare(with_teacher_exec(cfg, **PLAIN_TEACHER), args, batches)
    fns = {key: make(ctx) for key, (_, make) in PARTS.items()}
    fns['b0'] = teacher_forward(plain)
    rows = measure(fns, args)
    labels = {key: label for key, (label, _) in PARTS.items()}
    labels['b0'] = '(b0) teacher partial forward, plain fp32'
    print('| part | ms/iter | step peak (MiB) |\n|---|---:|---:|')
    for key, (sec, peak) in rows.items():
        print(f'| {labels[key]} | {sec * 1e3:.1f} | {peak:.1f} |')
    for b in ('b', 'b0'):
        ratio = rows['c'][0] / (rows['a'][0] + rows[b][0])
        print(f'| c / (a + {b}) | {ratio:.3f} | |')


def report_compare(cfg, args, batches) -> None:
    """(a), (b), (h) and the distillation step (c) of the config and of
    each ``--compare`` config; each c's cost beyond a + b against h."""
    ctx = prepare(cfg, args, batches)
    fns = {
        '(a) student train step': student_step(ctx),
        '(b) teacher partial forward': teacher_forward(ctx),
        '(h) student head: forward, loss (assignment), backward':
        head_step(ctx),
        f'(c) distill step, {osp.basename(args.config)}': distill_step(ctx),
    }
    for path in args.compare:
        other = load_config(path, args.cfg_options)
        fns[f'(c) distill step, {osp.basename(path)}'] = distill_step(
            prepare(other, args, batches))
    rows = measure(fns, args)
    secs = [sec for sec, _ in rows.values()]
    a, b, h = secs[:3]
    print_table(['part', 'ms/iter', 'step peak (MiB)', '(c - a - b) / h'], [[
        label, f'{sec * 1e3:.1f}', f'{peak:.1f}',
        f'{(sec - a - b) / h:.2f}' if i >= 3 else ''
    ] for i, (label, (sec, peak)) in enumerate(rows.items())])


def print_table(header: List[str], rows: List[List[str]]) -> None:
    """A markdown table: the first column left-aligned, the others
    right-aligned (numbers)."""
    print('| ' + ' | '.join(header) + ' |')
    print('|---|' + '---:|' * (len(header) - 1))
    for row in rows:
        print('| ' + ' | '.join(row) + ' |')


def report_teacher_options(cfg, args, batches) -> None:
    """The teacher's partial forward under each execution option, side by
    side (ratios to the plain fp32 teacher)."""
    options = list(AMP_TEACHER_OPTIONS if args.amp else TEACHER_OPTIONS)
    if args.device.startswith('cuda'):  # prepacking is CPU-only
        options = [(label, opts) for label, opts in options
                   if 'not prepacked' not in label]
    own = cfg.model.get('teacher_exec')
    if own:  # the config's own options, as a training run uses them
        options.insert(1,
                       (f'the config\'s teacher_exec {dict(own)}', dict(own)))
    fns = {
        label:
        teacher_forward(
            prepare(with_teacher_exec(cfg, **opts), args, batches))
        for label, opts in options
    }
    rows = measure(fns, args)
    ref_sec, _ = rows[options[0][0]]
    print_table(
        ['teacher partial forward', 'ms/iter', 'speed-up', 'step peak (MiB)'],
        [[label, f'{sec * 1e3:.1f}', f'{ref_sec / sec:.3f} x', f'{peak:.1f}']
         for label, (sec, peak) in rows.items()])


def report_variants(variants: List[Tuple[str, object]], args, batches) -> None:
    """The distillation step of each (label, config), the first being the
    reference the ratios are taken to."""
    fns = {
        label: distill_step(prepare(cfg, args, batches))
        for label, cfg in variants
    }
    rows = measure(fns, args)
    ref_sec, ref_peak = rows[variants[0][0]]
    print_table(
        ['distill step', 'ms/iter', 'x base', 'step peak (MiB)', 'x base'], [[
            label, f'{sec * 1e3:.1f}', f'{sec / ref_sec:.3f}', f'{peak:.1f}',
            f'{peak / ref_peak:.3f}'
        ] for label, (sec, peak) in rows.items()])


def describe_device(device: str) -> str:
    """``cpu``, or ``cuda:N (GPU name, TF32 convolutions on|off)``."""
    if not device.startswith('cuda'):
        return device
    index = torch.device(device).index or 0
    tf32 = 'on' if torch.backends.cudnn.allow_tf32 else 'off'
    return (f'cuda:{index} ({torch.cuda.get_device_name(index)}, cuDNN TF32 '
            f'{tf32})')


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    task, num_classes = task_of(cfg.model.student)
    sizes = args.img_size or default_img_size(cfg)
    img_sizes = [tuple(sizes[i:i + 2]) for i in range(0, len(sizes), 2)]
    img_size = img_sizes[0] if len(img_sizes) == 1 else ' / '.join(
        map(str, img_sizes))
    gen = torch.Generator().manual_seed(0)
    batches = [
        fake_batch(task, args.batch_size, size, num_classes, gen)
        for size in img_sizes
    ]
    amp = f', amp {args.amp}' if args.amp else ''
    print(f'config: {args.config}\ndevice: {describe_device(args.device)}'
          f'{amp}, threads: '
          f'{torch.get_num_threads()}, batch {args.batch_size} x {img_size}'
          f', {args.iters} timed iterations (median, {args.clock} clock), '
          'peak memory of one step above its start')
    if args.teacher_options:
        report_teacher_options(cfg, args, batches)
        return
    if args.compare:
        report_compare(cfg, args, batches)
        return
    if args.avatars is None:
        report_parts(cfg, args, batches)
        return
    variants = [('base loss, no avatars', base_only(cfg))]
    for num in args.avatars:
        for chunk in args.chunk_size or [None]:
            label = f'AKD, N = {num}' + ('' if chunk is None else
                                         f', chunk_size {chunk}')
            variants.append((label, with_avatars(cfg, num, chunk)))
    report_variants(variants, args, batches)


if __name__ == '__main__':
    main()
