# Copyright (c) mmkd contributors. All rights reserved.
"""Record the outputs of named submodules with forward hooks."""
import difflib
from typing import Dict, Iterable, List, Optional

import torch.nn as nn


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
            close = [n for n in names
                     if n.startswith(parent) and n.count('.') <=
                     parent.count('.') + (1 if parent else 0)][:10]
        raise ValueError(
            f'{role} has no module {path!r}. Closest existing names: '
            f'{close}. Module paths are dotted names as in '
            '`model.named_modules()`, e.g. "neck", "backbone.layer3", '
            '"decode_head.conv_seg".') from None


class ModuleOutputRecorder:
    """Keeps the outputs of the given submodules during a forward pass.

    A module called several times in one forward (a head shared over FPN
    levels) yields one recorded output per call, in call order.

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
            self.outputs[path].append(output)
            if self.stop_after_all and not self._calibrating and \
                    self._all_done():
                raise StopForward

        return hook

    def _all_done(self) -> bool:
        expected = self.expected_calls
        return expected is not None and all(
            len(self.outputs[p]) >= expected[p] for p in self.paths)

    def reset(self) -> None:
        for outs in self.outputs.values():
            outs.clear()

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
        finally:
            self._active = False
            calibrating, self._calibrating = self._calibrating, False
        missing = [p for p in self.paths if not self.outputs[p]]
        if missing:
            raise RuntimeError(
                f'{self.role}: modules {missing} produced no output during '
                'the forward pass. Distil modules that are called (not their '
                '.forward) in this forward mode; e.g. mmdet\'s tensor mode '
                'calls bbox_head.forward directly: record its submodules '
                "(bbox_head.retina_cls) or set teacher_forward_mode='predict'"
                '.')
        if calibrating:
            self.expected_calls = {
                p: len(outs) for p, outs in self.outputs.items()}
        outputs = {p: list(outs) for p, outs in self.outputs.items()}
        self.reset()  # hold no references between passes
        return outputs

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
