# Copyright (c) mmkd contributors. All rights reserved.
"""Record the outputs of named submodules with forward hooks."""
import difflib
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

import torch.nn as nn
from torch import Tensor

from mmkd.utils.torch_private import available, tensor_version


class StopForward(Exception):
    """Raised from a forward hook to end a forward pass early."""


def get_module(model: nn.Module, path: str, role: str = 'model') -> nn.Module:
    """``model.get_submodule(path)`` with an error that lists the closest
    existing module names."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.4)
        if not close:  # fall back to the children of the deepest valid parent
            parent = path.rsplit('.', 1)[0] if '.' in path else ''
            close = [
                n for n in names
                if n.startswith(parent) and n.count('.') <= parent.count('.') +
                (1 if parent else 0)
            ][:10]
        raise ValueError(
            f'{role} has no module {path!r}. Closest existing names: '
            f'{close}. Module paths are dotted names as in '
            '`model.named_modules()`, e.g. "neck", "backbone.layer3", '
            '"decode_head.conv_seg".') from None


def iter_tensors(obj: Any) -> Iterator[Tensor]:
    """The tensors inside a (nested) tuple / list / dict output."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item)


def map_tensors(obj: Any, fn) -> Any:
    """``obj`` with ``fn`` applied to every tensor in it (nested tuples,
    namedtuples, lists and dicts keep their structure)."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        items = [map_tensors(item, fn) for item in obj]
        if hasattr(obj, '_fields'):  # namedtuple
            return type(obj)(*items)
        return type(obj)(items)
    if isinstance(obj, dict):
        return type(obj)((k, map_tensors(v, fn)) for k, v in obj.items())
    return obj


def clone_tensors(obj: Any) -> Any:
    """``obj`` with every tensor in it cloned (autograd-aware: a clone of a
    student feature still passes gradients back to the module)."""
    return map_tensors(obj, Tensor.clone)


class ModuleOutputRecorder:
    """Keeps the outputs of the given submodules during a forward pass.

    A module called several times in one forward (a head shared over FPN
    levels) yields one recorded output per call, in call order.

    **A recording is the module's output as it was produced.** Models modify
    tensors in place after producing them (mmdet's ``ConvFCBBoxHead`` runs an
    in-place ReLU on each ``shared_fcs.N`` output, ResNet blocks run
    ``out += identity`` and in-place ReLUs on their norms' outputs). Keeping
    the tensor object would let the recording change with it, and differently
    on the two sides when the teacher's forward is cut short. Every tensor
    carries a version counter that each in-place operation bumps, so the
    first pass (the *settling* pass) records a copy of every output and then
    looks which originals were modified before the pass ended: only those
    paths are copied from then on (:attr:`copied_paths`), all others are
    kept as they are, at no cost. Each later pass checks the version
    counters of what it kept uncopied and raises if one was modified, rather
    than hand on a changed value. (Where this torch has no version counter,
    :mod:`mmkd.utils.torch_private`, every output is copied.)

    With ``stop_after_all=True`` the forward pass is cut short (by raising
    :class:`StopForward` from the hook) as soon as every recorded module has
    been called as many times as in the calibration pass: the first forward
    after :meth:`reset` with ``calibrate=True`` runs to the end and counts the
    calls. This is how the teacher skips every layer after the deepest one
    that is distilled, whatever the architecture.
    """

    def __init__(self, model: nn.Module, paths: Iterable[str],
                 role: str = 'model', stop_after_all: bool = False) -> None:
        self.paths: List[str] = list(dict.fromkeys(paths))
        self.role = role
        self.stop_after_all = stop_after_all
        self.outputs: Dict[str, list] = {p: [] for p in self.paths}
        self.expected_calls: Optional[Dict[str, int]] = None
        # None until the settling pass has run
        self.copied_paths: Optional[Set[str]] = None
        # (path, tensor, version when recorded) of what a pass must check
        self._watched: List[Tuple[str, Tensor, int]] = []
        self._calibrating = False
        self._active = False
        self._handles = []
        for path in self.paths:
            module = get_module(model, path, role)
            self._handles.append(
                module.register_forward_hook(self._make_hook(path)))

    def _make_hook(self, path: str):

        def hook(module, args, output):
            if not self._active:
                return
            self.outputs[path].append(self._keep(path, output))
            if self.stop_after_all and not self._calibrating and \
                    self._all_done():
                raise StopForward

        return hook

    def _keep(self, path: str, output):
        """What is recorded of ``output``: a copy where the path is known
        (or, while settling, may turn out) to be modified in place later;
        otherwise the output itself, watched."""
        settled = self.copied_paths is not None
        if settled and path in self.copied_paths or \
                not available('tensor_version'):
            return clone_tensors(output)  # (no version counters: copy all)
        self._watched.extend(
            (path, t, tensor_version(t)) for t in iter_tensors(output))
        return output if settled else clone_tensors(output)

    def _modified_paths(self) -> Set[str]:
        return {
            path
            for path, t, version in self._watched
            if tensor_version(t) != version
        }

    def _settle(self) -> None:
        """End of a pass: decide (first pass) or verify (later passes) which
        paths' outputs are modified in place after being recorded."""
        modified = self._modified_paths()
        self._watched.clear()
        if self.copied_paths is None:
            self.copied_paths = modified
        elif modified:
            self.reset()
            raise RuntimeError(
                f'{self.role}: the outputs of {sorted(modified)} were '
                'modified in place after they were recorded, which they were '
                'not on the first batch, so the recording no longer holds '
                'what the module produced. Record a module whose output is '
                'not modified later (e.g. the activation after it), or use '
                'the same forward on every batch.')

    def _all_done(self) -> bool:
        expected = self.expected_calls
        return expected is not None and all(
            len(self.outputs[p]) >= expected[p] for p in self.paths)

    def reset(self) -> None:
        for outs in self.outputs.values():
            outs.clear()
        self._watched.clear()

    def run(self, fn, *args, **kwargs) -> Dict[str, list]:
        """Call ``fn(*args, **kwargs)`` while recording; returns
        ``{path: [output per call]}``. Cut short after the last recorded
        call when ``stop_after_all`` (after a calibration run)."""
        self.reset()
        self._calibrating = self.stop_after_all and \
            self.expected_calls is None
        self._active = True
        try:
            fn(*args, **kwargs)
        except StopForward:
            pass
        except BaseException:
            self.reset()
            raise
        finally:
            self._active = False
            calibrating, self._calibrating = self._calibrating, False
        missing = [p for p in self.paths if not self.outputs[p]]
        if missing:
            self.reset()
            raise RuntimeError(
                f'{self.role}: modules {missing} produced no output during '
                'the forward pass. Distil modules that are called (not their '
                '.forward) in this forward mode; e.g. mmdet\'s tensor mode '
                'calls bbox_head.forward directly: record its submodules '
                "(bbox_head.retina_cls) or set teacher_forward_mode='predict'"
                '.')
        self._settle()
        if calibrating:
            self.expected_calls = {
                p: len(outs)
                for p, outs in self.outputs.items()
            }
        outputs = {p: list(outs) for p, outs in self.outputs.items()}
        self.reset()  # hold no references between passes
        return outputs

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
