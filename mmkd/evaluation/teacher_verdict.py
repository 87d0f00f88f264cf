# Copyright (c) mmkd contributors. All rights reserved.
"""Whether a teacher looks worth learning from, from its measured
validation metric: against the number its metafile entry publishes and
against an untrained model of the student's architecture on the same
images. Used by :class:`~mmkd.engine.hooks.TeacherCheckHook`; numbers
only, no models."""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

#: the metrics mmkd's configs validate with: ``(key, best value, lower is
#: better)``, in the order a run's primary metric is looked for (a key
#: ending in ``/`` matches every key with that prefix)
KNOWN_METRICS: Tuple[Tuple[str, float, bool], ...] = (
    ('coco/bbox_mAP', 1.0, False),  # mmdet CocoMetric, in [0, 1]
    ('coco/segm_mAP', 1.0, False),
    ('mIoU', 100.0, False),  # mmseg IoUMetric, in percent
    ('accuracy/top1', 100.0, False),  # mmkd Accuracy, in percent
    ('rmse', 0.0, True),  # mmkd RMSE
    ('coco/', 1.0, False),
    ('mAcc', 100.0, False),
    ('aAcc', 100.0, False),
    ('mDice', 100.0, False),
    ('accuracy/', 100.0, False),
    ('rmse_orig', 0.0, True),
)


def metric_scale(key: str) -> Tuple[Optional[float], Optional[bool]]:
    """``(best value, lower is better)`` of a metric key; ``(None, None)``
    for a metric this module does not know."""
    for known, best, lower in KNOWN_METRICS:
        if key == known or known.endswith('/') and key.startswith(known):
            return best, lower
    return None, None


def primary_metric(
    metrics: Dict[str, float], preferred: Sequence[Optional[str]] = ()) -> str:
    """The key the check judges by: the first of ``preferred`` (a metric
    named in the config, the metafile entry's key) that ``metrics`` has,
    else the first of :data:`KNOWN_METRICS`, else the first key."""
    for key in preferred:
        if key and key in metrics:
            return key
    for known, _, _ in KNOWN_METRICS:
        if known in metrics:
            return known
    if not metrics:
        raise ValueError('the validation metric returned no values')
    return next(iter(metrics))


def _num(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.4g}'


@dataclass
class TeacherVerdict:
    """One teacher's measured metric and what it is held against.

    ``published`` is in the run's logged units (the metafile's number
    divided by its ``Scale``). The two warnings:

    - **below the published number**: higher-is-better metrics warn when
      ``value < published * (1 - margin)``, lower-is-better ones when
      ``value > published * (1 + margin)``;
    - **no better than an untrained model**: ``progress = (value -
      baseline) / (best - baseline)`` (the share of the way from the
      untrained student's score to a perfect one the teacher has gone; for
      lower-is-better metrics ``(baseline - value) / (baseline - best)``)
      below ``min_progress``; for a metric without a known best value,
      when the teacher does not beat the baseline at all.

    A value that is not finite always warns.
    """
    who: str  # "teacher" or "teacher 'a'"
    key: str
    value: float
    lower_is_better: bool = False
    best: Optional[float] = None
    baseline: Optional[float] = None  # the untrained student's value
    published: Optional[float] = None
    published_source: str = ''  # e.g. "the published box AP 41.0 of ..."
    margin: float = 0.25
    min_progress: float = 0.1

    @property
    def progress(self) -> Optional[float]:
        """The share of the way from the untrained model to a perfect
        score (None without a baseline or a known best value)."""
        if self.baseline is None or self.best is None or \
                self.best == self.baseline:
            return None
        return (self.value - self.baseline) / (self.best - self.baseline)

    def below_published(self) -> Optional[str]:
        """Why the value is too far from the published number, or None."""
        if self.published is None:
            return None
        if self.lower_is_better:
            limit = self.published * (1 + self.margin)
            bad = self.value > limit
        else:
            limit = self.published * (1 - self.margin)
            bad = self.value < limit
        if not bad:
            return None
        rel = abs(self.value / self.published - 1) if self.published \
            else math.inf
        side = 'above' if self.lower_is_better else 'below'
        return (f'{rel:.0%} {side} {self.published_source} '
                f'({_num(self.published)} as the run logs it; the check '
                f'warns beyond {self.margin:.0%} {side} it, at '
                f'{_num(limit)})')

    def no_better_than_untrained(self) -> Optional[str]:
        """Why the value is no better than the untrained model's, or
        None."""
        if self.baseline is None:
            return None
        progress = self.progress
        if progress is not None:
            if progress >= self.min_progress:
                return None
            return (f'the untrained student scores {_num(self.baseline)}: '
                    f'the teacher has gone {progress:.1%} of the way from '
                    f'it to a perfect {_num(self.best)} (the check warns '
                    f'under {self.min_progress:.0%})')
        better = self.value < self.baseline if self.lower_is_better else \
            self.value > self.baseline
        if better or self.best == self.baseline:
            return None
        return (f'the untrained student scores {_num(self.baseline)}, as '
                'well or better')

    def reasons(self) -> List[str]:
        """Every reason to warn (empty: the teacher looks fine)."""
        if not math.isfinite(self.value):
            against = [
                f'{self.published_source}: {_num(self.published)}'
                if self.published is not None else None,
                f'the untrained student: {_num(self.baseline)}'
                if self.baseline is not None else None
            ]
            against = [a for a in against if a]
            return [
                f'no finite {self.key}: the metric scored no predictions '
                "(mmdet's CocoMetric reports nothing when nothing is "
                "detected above test_cfg's score_thr) or they are not "
                'finite' +
                (f' (against {"; ".join(against)})' if against else '')
            ]
        return [
            r
            for r in (self.below_published(), self.no_better_than_untrained())
            if r is not None
        ]


#: what usually makes a teacher score low, for the warning
LIKELY_CAUSES: Tuple[str, ...] = (
    'the checkpoint is not the trained teacher (an early or initial '
    'checkpoint, a wrong path) or it loaded into other modules',
    'the teacher was trained on another data set or another order of '
    'classes (the validation set\'s classes are {classes})',
    'the teacher config\'s data or test settings differ from those it was '
    'trained with (mean/std, channel order, input size, test_cfg '
    'thresholds, number of classes)',
    'the teacher\'s execution options (rerun with model.teacher_exec='
    "dict(memory_format='contiguous', fold_batchnorm=False, "
    "precision='fp32') to rule them out)",
)


def warning_message(verdict: TeacherVerdict, reasons: List[str], images: str,
                    classes: Optional[Sequence] = None) -> str:
    """The check's warning for one teacher."""
    lines = [
        f'Teacher check: {verdict.who} scores {verdict.key} = '
        f'{_num(verdict.value)} on {images}; it does not look worth '
        'learning from:'
    ]
    lines += [f'  - {r}' for r in reasons]
    lines.append('Distilling from it will likely not help the student (a '
                 'broken teacher can leave it worse than training alone). '
                 'Likely causes:')
    shown = ', '.join(map(str, classes)) if classes else 'not listed'
    lines += [f'  - {c}'.replace('{classes}', shown) for c in LIKELY_CAUSES]
    lines.append('The run goes on. To skip this check: --cfg-options '
                 'teacher_check.enable=False')
    return '\n'.join(lines)
