# Copyright (c) mmkd contributors. All rights reserved.
"""StudentInputRelay: a teacher module takes one argument from the student's
pass (the mechanism behind the teacher's box head on the student's RoIs)."""
import pytest
import torch
import torch.nn as nn

from mmkd.models.distillers import DistillEntry
from mmkd.models.recording import StudentInputRelay
from mmkd.models.recording.input_relay import (collect_relay_specs,
                                               parse_relay_spec)


class Pool(nn.Module):
    """``forward(feat, boxes, *, scale=1.0)``: stands in for a RoI
    extractor (features, RoIs)."""

    def forward(self, feat, boxes, scale=1.0):
        return feat.sum() * boxes * scale


class Net(nn.Module):
    """Calls ``pool`` once per chunk of its own boxes, like a model that
    makes its own proposals; ``shift`` makes student and teacher boxes
    differ."""

    def __init__(self, shift: float, calls: int = 2,
                 by_keyword: bool = False) -> None:
        super().__init__()
        self.shift = shift
        self.calls = calls
        self.by_keyword = by_keyword
        self.pool = Pool()

    def forward(self, x):
        outs = []
        for k in range(self.calls):
            boxes = x[:, :2] + self.shift + k
            if self.by_keyword:
                outs.append(self.pool(x, boxes=boxes, scale=2.0))
            else:
                outs.append(self.pool(x, boxes, 2.0))
        return outs


def received(module):
    """The arguments each call of ``module`` received (after pre-hooks)."""
    seen = []
    module.register_forward_hook(
        lambda m, args, kwargs, out: seen.append((args, kwargs)),
        with_kwargs=True)
    return seen


def test_teacher_gets_student_argument_call_by_call():
    student, teacher = Net(shift=10.0), Net(shift=-5.0)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    t_seen = received(teacher.pool)
    x = torch.arange(6.0).view(2, 3)
    with relay.recording(x):
        student(x)
    with relay.feeding(x):
        outs = teacher(x)
    for k in range(2):
        expected = x[:, :2] + 10.0 + k  # the student's boxes of call k
        args, _ = t_seen[k]
        torch.testing.assert_close(args[1], expected)
        assert args[0] is x and args[2] == 2.0  # the rest is untouched
        torch.testing.assert_close(outs[k], x.sum() * expected * 2.0)
    # nothing is kept after the teacher's pass
    assert all(not v for v in relay.recorded.values())
    # outside `feeding` the teacher uses its own boxes
    own = teacher(x)
    torch.testing.assert_close(own[0], x.sum() * (x[:, :2] - 5.0) * 2.0)


def test_keyword_argument_is_replaced():
    student = Net(shift=1.0, calls=1, by_keyword=True)
    teacher = Net(shift=7.0, calls=1, by_keyword=True)
    relay = StudentInputRelay(student, teacher, {'pool': 'boxes'})
    t_seen = received(teacher.pool)
    x = torch.ones(1, 3)
    with relay.recording(x):
        student(x)
    with relay.feeding(x):
        teacher(x)
    _, kwargs = t_seen[0]
    torch.testing.assert_close(kwargs['boxes'], torch.full((1, 2), 2.0))
    assert kwargs['scale'] == 2.0


def test_recorded_values_are_detached():
    student, teacher = Net(shift=0.0, calls=1), Net(shift=0.0, calls=1)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    x = torch.ones(1, 3, requires_grad=True)
    with relay.recording(x):
        student(x)
    assert not relay.recorded['pool'][0].requires_grad


def test_teacher_calling_more_often_than_student_fails():
    student, teacher = Net(0.0, calls=1), Net(0.0, calls=2)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    x = torch.ones(1, 3)
    with relay.recording(x):
        student(x)
    with pytest.raises(RuntimeError, match='more often'):
        with relay.feeding(x):
            teacher(x)
    assert not relay.has_recording_for(x)  # dropped even after the error


def test_feeding_needs_the_students_pass_on_the_same_batch():
    student, teacher = Net(0.0), Net(0.0)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    x, other = torch.ones(1, 3), torch.ones(1, 3)
    with pytest.raises(RuntimeError, match='has not run on this batch'):
        with relay.feeding(x):
            teacher(x)
    with relay.recording(other):
        student(other)
    assert relay.has_recording_for(other) and not relay.has_recording_for(x)
    with pytest.raises(RuntimeError, match='has not run on this batch'):
        with relay.feeding(x):
            teacher(x)


def test_failed_student_pass_keeps_nothing():
    student, teacher = Net(0.0), Net(0.0)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    x = torch.ones(1, 3)
    with pytest.raises(ValueError, match='boom'):
        with relay.recording(x):
            student(x)
            raise ValueError('boom')
    assert not relay.has_recording_for(x)
    assert all(not v for v in relay.recorded.values())


def test_student_that_never_calls_the_module():
    student, teacher = Net(0.0, calls=0), Net(0.0)
    relay = StudentInputRelay(student, teacher, {'pool': 1})
    x = torch.ones(1, 3)
    with relay.recording(x):
        student(x)
    with pytest.raises(RuntimeError, match=r"never called \['pool'\]"):
        with relay.feeding(x):
            teacher(x)


def test_argument_not_in_the_call_names_the_fix():
    student, teacher = Net(0.0), Net(0.0)
    relay = StudentInputRelay(student, teacher, {'pool': 5})
    with pytest.raises(
            RuntimeError, match=r"3 positional argument.*"
            r"positional argument 5 of 'pool'.*fix `arg`"):
        with relay.recording(torch.ones(1, 3)):
            student(torch.ones(1, 3))


class _Renamed(nn.Module):

    def __init__(self):
        super().__init__()
        self.pol = Pool()


def test_unknown_module_lists_closest_names():
    with pytest.raises(ValueError,
                       match=r"teacher has no module 'pool'.*'pol'"):
        StudentInputRelay(Net(0.0), _Renamed(), {'pool': 1})


@pytest.mark.parametrize('spec,match', [
    ('roi_head.bbox_roi_extractor', 'must be a dict'),
    (dict(module='roi_head.bbox_roi_extractor'), 'exactly the keys'),
    (dict(module='a', arg=1, extra=2), 'exactly the keys'),
    (dict(module='', arg=1), 'dotted module path'),
    (dict(module='a', arg=-1), 'int >= 0'),
    (dict(module='a', arg=True), 'int >= 0'),
    (dict(module='a', arg='not a name'), 'keyword argument'),
])
def test_bad_spec_is_rejected(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_relay_spec(spec, 'distill entry x')


def _entry(index, **relay):
    cfg = dict(student='neck', teacher='neck', name=f'e{index}',
               loss=dict(type='mmkd.FeatureMSELoss'))
    if relay:
        cfg['teacher_input_from_student'] = relay
    return DistillEntry(cfg, index)


def test_entries_must_agree_on_a_module():
    same = [
        _entry(0, module='roi', arg=1),
        _entry(1, module='roi', arg=1),
        _entry(2)
    ]
    assert collect_relay_specs(same) == {'roi': 1}
    with pytest.raises(ValueError, match="'e0' and 'e1'.*different"):
        collect_relay_specs(
            [_entry(0, module='roi', arg=1),
             _entry(1, module='roi', arg=0)])


def test_entry_rejects_bad_spec_at_build():
    with pytest.raises(ValueError, match="distill entry 'e0'.*int >= 0"):
        _entry(0, module='roi', arg=-2)
