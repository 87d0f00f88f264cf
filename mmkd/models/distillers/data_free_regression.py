# Copyright (c) mmkd contributors. All rights reserved.
"""Data-free knowledge distillation for regression networks.

Zhou & Chiam, "Synthetic data generation method for data-free knowledge
distillation in regression neural networks", arXiv 2301.04338.
"""
import copy
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmkd.registry import MODELS
from .base import BaseDistiller


def build_mixing_schedule(mixing) -> Callable[[int, int], float]:
    """The weight ``a`` of the synthetic-sample term, as ``f(epoch, E)``.

    ``'decreasing'`` / ``dict(type='decreasing')``: ``a = 1 - (epoch+1)/E``
    (the paper's "a -> 0"); a number ``v`` / ``dict(type='fixed',
    value=v)``: ``a = v`` for every epoch, ``0 <= v <= 1``.
    """
    if isinstance(mixing, (dict, ConfigDict)):
        kind = mixing.get('type')
        if kind == 'decreasing' and set(mixing) == {'type'}:
            return build_mixing_schedule('decreasing')
        if kind == 'fixed' and set(mixing) == {'type', 'value'}:
            return build_mixing_schedule(mixing['value'])
    elif mixing == 'decreasing':
        return lambda epoch, max_epochs: 1.0 - (epoch + 1) / max_epochs
    elif (isinstance(mixing, (int, float)) and not isinstance(mixing, bool)
          and 0.0 <= mixing <= 1.0):
        value = float(mixing)
        return lambda epoch, max_epochs: value
    raise ValueError(
        "mixing must be 'decreasing', dict(type='decreasing'), a number in "
        "[0, 1] or dict(type='fixed', value=<number in [0, 1]>), got "
        f'{mixing!r}')


def _random_streams(seed: int, num: int, device) -> Tuple[torch.Generator]:
    """``num`` independent torch generators derived from ``seed``."""
    states = np.random.SeedSequence(seed).generate_state(num, np.uint64)
    streams = []
    for state in states:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(state) >> 1)
        streams.append(gen)
    return tuple(streams)


@MODELS.register_module()
class DataFreeRegressionDistiller(BaseDistiller):
    """Data-free distillation of a regression teacher (Zhou & Chiam,
    arXiv 2301.04338).

    The student never sees a real training row: the train dataloader yields
    only ``dict(index, seed)`` (:class:`mmkd.NoiseSeedDataset`). One call of
    :meth:`train_step` (one Runner iteration) runs one *epoch* of the paper:

    1. ``generator`` strategy only: one generator step on
       ``L_G = mean(-(T(xg) - S(xg))^2 + gamma * S(xg)^2)
       + beta * sum(xg^2)`` (sum over the batch and features), with
       ``xg = G(z)``, ``z ~ N(0, I)`` (done before the student steps, as
       in the authors' code);
    2. ``student_steps`` (10) student steps, each on a fresh batch:
       ``L_S = mean(a * (T(xg) - S(xg))^2 + (1 - a) * (T(xp) - S(xp))^2)``,
       ``xp ~ N(0, I)``, where ``xg`` comes from the strategy:

       - ``gaussian`` (baseline): no ``xg``; ``L_S = mean((T(xp) -
         S(xp))^2)`` (a = 0);
       - ``generator``: ``xg = G(z)`` (no gradient to G);
       - ``direct`` (the paper's proposal): ``xg`` starts at ``N(0, I)``
         and takes ``direct_steps`` (2) RMSprop steps (lr ``direct_lr``
         0.1, weight decay ``beta``, which bounds ``xg``) that minimise
         ``mean(-(T(x) - S(x))^2 + gamma * S(x)^2)``, i.e. maximise the
         teacher-student gap.

    ``a`` follows ``mixing``: ``'decreasing'`` (``1 - (epoch+1)/E``) or a
    fixed value. Randomness: the synthetic inputs come from generators
    seeded by the item's ``seed``; the student/generator initialisation from
    the Runner's ``randomness.seed``. Both make a run reproducible.

    Validation and test (``predict``/``tensor`` modes) delegate to the
    student; real rows are used there only to compute the metric.

    Args:
        teacher (dict): ``dict(config=PATH, checkpoint=CKPT)`` (the config
            file's ``model``, e.g. the supervised teacher config) or
            ``dict(model=MODEL_CFG, checkpoint=CKPT)``, as for every mmkd
            distiller (:func:`teacher_model_cfg`). ``in_features`` is
            filled in if missing. The checkpoint (mmengine or plain state
            dict) is loaded strictly at build time; one trained on another
            number of input features is refused.
        student (dict): the student's model config (e.g.
            ``dict(type='mmkd.MLPRegressor', hidden=50)``).
        in_features (int): number of input features of the data.
        strategy (str): ``'gaussian'``, ``'generator'`` or ``'direct'``.
            Defaults to ``'direct'``.
        mixing: see :func:`build_mixing_schedule`. Defaults to
            ``'decreasing'``; ignored by ``'gaussian'``.
        generator (dict, optional): generator config for the ``generator``
            strategy (ignored by the others). Defaults to
            ``dict(type='mmkd.MLPGenerator', noise_dim=50, hidden=500)``.
        max_epochs (int, optional): ``E`` of the decreasing schedule.
            Defaults to None: the Runner's ``max_iters`` (one iteration per
            epoch).
        student_steps (int): student steps per epoch. Defaults to 10.
        batch_size (int): synthetic batch size (student, generator and
            direct steps). Defaults to 50.
        direct_steps (int): input-optimisation steps. Defaults to 2.
        direct_lr (float): their RMSprop learning rate. Defaults to 0.1.
        beta (float): bound on the synthetic inputs (generator penalty /
            direct weight decay). Defaults to 1e-5.
        gamma (float): penalty on the student's output. Defaults to 1e-5.
    """

    STRATEGIES = ('gaussian', 'generator', 'direct')
    # the generator is trained with the student and dropped afterwards
    DISTILL_STATE_PREFIXES = ('generator.', )
    SUPPORTS_DISTRIBUTED = False
    DISTRIBUTED_UNSUPPORTED = (
        'its train_step draws its own synthetic batches and steps the '
        'student and the generator with their own optimisers, which '
        "mmengine's DDP wrapper bypasses (it calls forward(mode='loss'), "
        'which a data-free distiller does not have), and the regression '
        'networks it distils train in seconds to minutes on one device.')

    def __init__(self, teacher: dict, student: dict, in_features: int,
                 strategy: str = 'direct', mixing: Union[str, float,
                                                         dict] = 'decreasing',
                 generator: Optional[dict] = None,
                 max_epochs: Optional[int] = None, student_steps: int = 10,
                 batch_size: int = 50, direct_steps: int = 2,
                 direct_lr: float = 0.1, beta: float = 1e-5,
                 gamma: float = 1e-5, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if strategy not in self.STRATEGIES:
            raise ValueError(f'strategy must be one of {self.STRATEGIES}, '
                             f'got {strategy!r}')
        for name, value in dict(in_features=in_features,
                                student_steps=student_steps,
                                batch_size=batch_size,
                                direct_steps=direct_steps).items():
            if (isinstance(value, bool) or not isinstance(value, int)
                    or value < 1):
                raise ValueError(
                    f'{name} must be a positive integer, got {value!r}')
        if max_epochs is not None and (not isinstance(max_epochs, int)
                                       or max_epochs < 1):
            raise ValueError(
                f'max_epochs must be None or >= 1, got {max_epochs!r}')
        for name, value in dict(beta=beta, gamma=gamma,
                                direct_lr=direct_lr).items():
            if not value >= 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}')
        self.strategy = strategy
        self.in_features = in_features
        self.mixing = build_mixing_schedule(mixing)
        self.max_epochs = max_epochs
        self.student_steps = student_steps
        self.batch_size = batch_size
        self.direct_steps = direct_steps
        self.direct_lr = float(direct_lr)
        self.beta = float(beta)
        self.gamma = float(gamma)

        self.student = MODELS.build(self._fill_in_features(student, 'student'))
        self.init_teacher(
            teacher,
            prepare_cfg=lambda cfg: self._fill_in_features(cfg, 'teacher'),
            check_state=self._check_input_size)
        if strategy == 'generator':
            gen_cfg = dict(type='mmkd.MLPGenerator', noise_dim=50, hidden=500)
            gen_cfg.update(copy.deepcopy(dict(generator or {})))
            gen_cfg.setdefault('out_features', in_features)
            if gen_cfg['out_features'] != in_features:
                raise ValueError(
                    f"generator out_features={gen_cfg['out_features']} "
                    f'differs from in_features={in_features}')
            self.generator = MODELS.build(gen_cfg)
        else:
            self.generator = None

    # ------------------------------------------------------------ building
    def _fill_in_features(self, cfg: dict, role: str) -> dict:
        cfg = copy.deepcopy(dict(cfg))
        cfg.setdefault('in_features', self.in_features)
        if cfg['in_features'] != self.in_features:
            raise ValueError(
                f"the {role} config has in_features={cfg['in_features']} "
                f'but the distiller (the data) has in_features='
                f'{self.in_features}')
        return cfg

    def _check_input_size(self, model: nn.Module, state: dict) -> None:
        """Refuse a teacher checkpoint trained on inputs of another size,
        saying so (other shape differences get the generic message)."""
        for key, param in model.state_dict().items():
            got = state.get(key)
            if (isinstance(got, torch.Tensor) and got.shape != param.shape
                    and param.dim() == 2 and got.dim() == 2
                    and param.shape[1] == self.in_features
                    and got.shape[0] == param.shape[0]):
                raise ValueError(
                    f'the teacher checkpoint was trained on {got.shape[1]} '
                    f'input features ({key} has shape {tuple(got.shape)}), '
                    f'but the data have in_features={self.in_features}: '
                    'use the teacher trained on this data set')

    def init_weights(self) -> None:
        """Initialise the student and generator; never the (loaded)
        teacher."""
        self.student.init_weights()
        if self.generator is not None:
            self.generator.init_weights()

    # -------------------------------------------------------------- losses
    def gap_objective(self, t_out: torch.Tensor,
                      s_out: torch.Tensor) -> torch.Tensor:
        """``mean(-(T - S)^2 + gamma * S^2)``: minimised by the synthetic
        inputs (it rewards a large teacher-student gap, and the ``gamma``
        term keeps the student's output bounded)."""
        return torch.mean(-(t_out - s_out).pow(2) + self.gamma * s_out.pow(2))

    def generator_loss(self, t_out: torch.Tensor, s_out: torch.Tensor,
                       x: torch.Tensor) -> torch.Tensor:
        """``L_G = gap_objective + beta * sum(x^2)`` (the bound on the
        generated inputs, summed over the batch and features)."""
        return self.gap_objective(t_out, s_out) + self.beta * x.pow(2).sum()

    @staticmethod
    def student_loss(t_g: Optional[torch.Tensor], s_g: Optional[torch.Tensor],
                     t_p: torch.Tensor, s_p: torch.Tensor,
                     a: float) -> torch.Tensor:
        """``mean(a (T(xg) - S(xg))^2 + (1 - a)(T(xp) - S(xp))^2)``; with
        no ``xg`` (the Gaussian baseline) ``mean((T(xp) - S(xp))^2)``."""
        loss_p = (t_p - s_p).pow(2)
        if t_g is None:
            return loss_p.mean()
        return torch.mean(a * (t_g - s_g).pow(2) + (1.0 - a) * loss_p)

    # --------------------------------------------------- synthetic inputs
    def direct_inputs(
            self, num: int,
            stream: Optional[torch.Generator] = None) -> torch.Tensor:
        """Start from ``N(0, I)`` and take ``direct_steps`` RMSprop steps on
        the inputs (lr ``direct_lr``, weight decay ``beta``) that minimise
        :meth:`gap_objective`. Only the inputs get gradients."""
        device = next(self.student.parameters()).device
        x = torch.randn(num, self.in_features, generator=stream,
                        device=device).requires_grad_(True)
        optimizer = torch.optim.RMSprop([x], lr=self.direct_lr,
                                        weight_decay=self.beta)
        for _ in range(self.direct_steps):
            objective = self.gap_objective(self.teacher(x), self.student(x))
            x.grad, = torch.autograd.grad(objective, [x])
            optimizer.step()
        return x.detach()

    def synthetic_inputs(
            self, num: int, stream: Optional[torch.Generator] = None
    ) -> Optional[torch.Tensor]:
        """``xg`` of the current strategy (None for ``gaussian``)."""
        if self.strategy == 'direct':
            return self.direct_inputs(num, stream)
        if self.strategy == 'generator':
            with torch.no_grad():
                return self.generator.sample(num, stream)
        return None

    # ---------------------------------------------------------- training
    def _epochs(self) -> int:
        if self.max_epochs is not None:
            return self.max_epochs
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if not max_iters:
            raise RuntimeError(
                'max_epochs is None and no Runner max_iters is available: '
                'pass max_epochs to the distiller')
        return int(max_iters)

    @staticmethod
    def _split_wrappers(optim_wrapper) -> Dict[str, OptimWrapper]:
        if isinstance(optim_wrapper, OptimWrapperDict):
            return dict(optim_wrapper.items())
        if isinstance(optim_wrapper, OptimWrapper):
            return dict(student=optim_wrapper)
        raise TypeError('optim_wrapper must be an OptimWrapperDict with '
                        "keys 'student' (and 'generator'), got "
                        f'{type(optim_wrapper).__name__}')

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One paper epoch: (generator step,) ``student_steps`` student
        steps. ``data`` holds only ``index`` (the epoch) and ``seed``."""
        data = self.data_preprocessor(data, True)
        if not isinstance(data, dict) or not {'index', 'seed'} <= set(data):
            raise TypeError(
                'the train dataloader of DataFreeRegressionDistiller must '
                "yield dict(index, seed) items (mmkd.NoiseSeedDataset), got "
                f'{type(data).__name__}'
                f'{sorted(data) if isinstance(data, dict) else ""}')
        extra = set(data) - {'index', 'seed'}
        if extra:
            raise ValueError(
                f'the train batch carries {sorted(extra)}: data-free '
                'distillation must not receive real samples; use '
                'mmkd.NoiseSeedDataset as the train dataset')
        wrappers = self._split_wrappers(optim_wrapper)
        needed = ['student'
                  ] + (['generator'] if self.strategy == 'generator' else [])
        for key in needed:
            if key not in wrappers:
                raise KeyError(f"optim_wrapper has no '{key}' entry, needed "
                               f'by the {self.strategy!r} strategy')
        epoch = int(data['index'].reshape(-1)[0])
        seed = int(data['seed'].reshape(-1)[0])
        max_epochs = self._epochs()
        if not 0 <= epoch < max_epochs:
            raise ValueError(
                f'epoch index {epoch} is outside [0, {max_epochs}): the '
                'NoiseSeedDataset must have max_epochs items read in order '
                '(DefaultSampler with shuffle=False)')
        a = 0.0 if self.strategy == 'gaussian' else self.mixing(
            epoch, max_epochs)
        device = next(self.student.parameters()).device
        stream_p, stream_g = _random_streams(seed, 2, device)
        log_vars = dict(mixing_weight=torch.tensor(a))

        if self.strategy == 'generator':
            xg = self.generator.sample(self.batch_size, stream_g)
            loss_g = self.generator_loss(
                self.teacher(xg), self.student(xg), xg)
            wrappers['generator'].update_params(loss_g)
            # L_G's backward also reached the student: drop those grads.
            wrappers['student'].zero_grad()
            log_vars['loss_generator'] = loss_g.detach()

        total = 0.0
        for _ in range(self.student_steps):
            xg = self.synthetic_inputs(self.batch_size, stream_g)
            xp = torch.randn(self.batch_size, self.in_features,
                             generator=stream_p, device=device)
            with torch.no_grad():
                t_p = self.teacher(xp)
                t_g = None if xg is None else self.teacher(xg)
            s_p = self.student(xp)
            s_g = None if xg is None else self.student(xg)
            loss_s = self.student_loss(t_g, s_g, t_p, s_p, a)
            wrappers['student'].update_params(loss_s)
            total += float(loss_s.detach())
        log_vars['loss_student'] = torch.tensor(total / self.student_steps)
        return log_vars

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor'):
        """``tensor``/``predict``: the student's. There is no ``loss``
        mode: training happens in :meth:`train_step`, without data."""
        if mode == 'loss':
            raise RuntimeError(
                'DataFreeRegressionDistiller has no loss mode: it trains '
                'through train_step on synthetic inputs only')
        return self.student(inputs, data_samples, mode)
