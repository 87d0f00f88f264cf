# Copyright (c) mmkd contributors. All rights reserved.
"""The teacher's own view of the student's batch: a teacher trained with
another normalisation (mean/std, channel order) gets the student's
preprocessed batch re-normalised for it, and, where its spec states an
``input_size``, resized to it."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class Normalisation:
    """What an OpenMMLab data preprocessor does to an image's values:
    ``mean``/``std`` (C values, or None: no normalisation), whether it
    reverses the channel order (``bgr_to_rgb``/``rgb_to_bgr``) and the
    value it pads with (in the normalised space)."""

    def __init__(self, mean: Optional[Tensor], std: Optional[Tensor],
                 flip: bool, pad_value: float) -> None:
        self.mean = None if mean is None else mean.detach().flatten().float()
        self.std = None if std is None else std.detach().flatten().float()
        self.flip = bool(flip)
        self.pad_value = float(pad_value)

    @classmethod
    def of(cls, preprocessor: Optional[nn.Module]) -> 'Normalisation':
        """Read mmengine's ``ImgDataPreprocessor`` (mmdet's, mmseg's and
        mmkd's subclass it or keep the same attributes)."""
        normalise = getattr(preprocessor, '_enable_normalize', False)
        mean = getattr(preprocessor, 'mean', None) if normalise else None
        std = getattr(preprocessor, 'std', None) if normalise else None
        flip = getattr(preprocessor, '_channel_conversion',
                       getattr(preprocessor, 'channel_conversion', False))
        pad = getattr(preprocessor, 'pad_value',
                      getattr(preprocessor, 'pad_val', 0))
        return cls(
            mean if isinstance(mean, Tensor) else None,
            std if isinstance(std, Tensor) else None, flip, pad)

    def same_values(self, other: 'Normalisation') -> bool:
        """The same preprocessed values from the same raw image."""

        def same(a, b):
            return (a is None
                    and b is None) or (a is not None and b is not None
                                       and a.shape == b.shape
                                       and torch.equal(a, b))

        return same(self.mean, other.mean) and same(
            self.std, other.std) and self.flip == other.flip

    def describe(self) -> str:
        if self.mean is None:
            values = 'raw values'
        else:
            values = (f'mean {[round(v, 3) for v in self.mean.tolist()]}, '
                      f'std {[round(v, 3) for v in self.std.tolist()]}')
        order = 'channels reversed from the loaded order' if self.flip \
            else 'channels in the loaded order'
        return f'{values}, {order}'


class TeacherView:
    """Re-normalises the student's preprocessed batch for the teacher:
    undo the student's normalisation (``x * std_s + mean_s``), reverse the
    channels where the two orders differ, apply the teacher's (``(x -
    mean_t) / std_t``), and give the padded border of each image (beyond
    its ``img_shape``) the teacher's pad value. Exact up to float rounding:
    the teacher sees what its own preprocessor makes of the same images.

    With ``input_size`` the (re-normalised, padded) batch is then resized
    to ``(H, W)`` as a whole, bilinearly (``align_corners=False``), for a
    teacher trained at another resolution (e.g. a ViT at 224 x 224). The
    data samples are not changed: the teacher runs in tensor mode, and its
    features come out at its own size (pair them with the student's through
    a ``ResizeConnector``).

    Args:
        student (Normalisation): the student preprocessor's.
        teacher (Normalisation): the teacher preprocessor's.
        input_size (tuple[int, int], optional): the teacher's ``(H, W)``.
            Defaults to None (the student's size).
    """

    def __init__(self, student: Normalisation, teacher: Normalisation,
                 input_size: Optional[Tuple[int, int]] = None) -> None:
        self.student = student
        self.teacher = teacher
        if input_size is not None:
            size = tuple(input_size) if isinstance(input_size,
                                                   (tuple, list)) else ()
            if len(size) != 2 or not all(
                    isinstance(v, int) and v > 0 for v in size):
                raise ValueError(
                    f'teacher input_size={input_size!r}: give the height and '
                    'width the teacher takes, e.g. input_size=(224, 224)')
            input_size = size
        self.input_size = input_size
        # a side without normalisation counts as mean 0, std 1
        self.same_values = student.same_values(teacher)
        self.identity = self.same_values and input_size is None

    @classmethod
    def between(cls, student_pre: nn.Module, teacher_pre: Optional[nn.Module],
                input_size: Optional[Tuple[int, int]] = None) -> 'TeacherView':
        student = Normalisation.of(student_pre)
        teacher = student if teacher_pre is None else \
            Normalisation.of(teacher_pre)
        return cls(student, teacher, input_size)

    def describe(self, who: str = 'teacher') -> str:
        """What ``who`` (the teacher, as messages name it) sees, in one
        line."""
        if self.same_values:
            text = ('the student\'s batch as it is (the same normalisation: '
                    f'{self.student.describe()})')
        else:
            text = ('the student\'s batch re-normalised for the teacher '
                    f'(student: {self.student.describe()}; teacher: '
                    f'{self.teacher.describe()})')
        if self.input_size is not None:
            text += (', resized to {} x {} (bilinear)'.format(
                *self.input_size))
        return f'{who} input: ' + text

    @staticmethod
    def _stats(norm: Normalisation, x: Tensor):
        channels = x.shape[1]
        if norm.mean is None:
            return x.new_zeros(1, channels, 1,
                               1), x.new_ones(1, channels, 1, 1)
        shape = (1, -1, 1, 1)
        return (norm.mean.to(x).reshape(shape).expand(1, channels, 1, 1),
                norm.std.to(x).reshape(shape).expand(1, channels, 1, 1))

    def __call__(self, inputs, data_samples: Optional[Sequence] = None):
        """The teacher's batch (other inputs than a B x C x H x W float
        tensor pass unchanged)."""
        if self.identity or not isinstance(inputs, Tensor) or \
                inputs.dim() != 4 or not inputs.is_floating_point():
            return inputs
        out = inputs if self.same_values else \
            self._renormalise(inputs, data_samples)
        if self.input_size is not None and \
                tuple(out.shape[2:]) != self.input_size:
            out = F.interpolate(out, size=self.input_size, mode='bilinear',
                                align_corners=False)
        return out

    def samples_for(self, data_samples: Optional[Sequence], inputs):
        """The data samples as the teacher's ``predict`` mode must read
        them: unchanged, unless ``input_size`` resizes the batch; then
        copies whose geometry is scaled with it (``img_shape``,
        ``pad_shape``, ``batch_input_shape`` as ``(h, w)``,
        ``scale_factor`` as ``(w, h)``, mmseg's ``padding_size`` as
        ``(left, right, top, bottom)``), so that predictions come back in
        the original image's coordinates. Training needs none of this: the
        teacher runs in tensor mode there."""
        if self.input_size is None or not isinstance(inputs, Tensor) or \
                inputs.dim() != 4 or data_samples is None:
            return data_samples
        sy = self.input_size[0] / inputs.shape[2]
        sx = self.input_size[1] / inputs.shape[3]
        if (sy, sx) == (1.0, 1.0):
            return data_samples
        scaled = []
        for sample in data_samples:
            sample = sample.clone()
            meta = sample.metainfo
            new = {}
            for key in ('img_shape', 'pad_shape', 'batch_input_shape'):
                if meta.get(key) is not None:
                    h, w = meta[key][:2]
                    new[key] = (round(h * sy), round(w * sx))
            if meta.get('scale_factor') is not None:
                fw, fh = meta['scale_factor'][:2]
                new['scale_factor'] = (fw * sx, fh * sy)
            if meta.get('padding_size') is not None:
                left, right, top, bottom = meta['padding_size']
                new['padding_size'] = [
                    round(left * sx),
                    round(right * sx),
                    round(top * sy),
                    round(bottom * sy)
                ]
            sample.set_metainfo(new)
            scaled.append(sample)
        return scaled

    def _renormalise(self, inputs: Tensor, data_samples) -> Tensor:
        s_mean, s_std = self._stats(self.student, inputs)
        t_mean, t_std = self._stats(self.teacher, inputs)
        raw = inputs * s_std + s_mean
        if self.student.flip != self.teacher.flip:
            raw = raw.flip(1)
        out = (raw - t_mean) / t_std
        self._repad(out, data_samples)
        return out

    def _repad(self, out: Tensor, data_samples) -> None:
        """The padded border (beyond each sample's ``img_shape``) gets the
        teacher's pad value, as its preprocessor pads."""
        for i, sample in enumerate(data_samples or ()):
            shape = getattr(sample, 'metainfo', {}).get('img_shape')
            if not shape or i >= out.shape[0]:
                continue
            h, w = int(shape[0]), int(shape[1])
            if h < out.shape[2]:
                out[i, :, h:, :] = self.teacher.pad_value
            if w < out.shape[3]:
                out[i, :, :, w:] = self.teacher.pad_value
