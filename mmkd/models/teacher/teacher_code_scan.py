# Copyright (c) mmkd contributors. All rights reserved.
"""What a module's ``forward`` reaches that may read raw NCHW memory, read
from its code (the static half of the teacher's layout plan,
:mod:`~mmkd.models.teacher.teacher_layout`).

:func:`unsafe_object` says which objects may: mmcv's ops (Python functions
of ``mmcv.ops`` and its compiled ``mmcv._ext``), compiled functions from
outside PyTorch, ``autograd.Function`` classes defined outside PyTorch and
``torch.ops`` operators outside PyTorch's own namespaces.
:func:`unsafe_calls` walks the bytecode of ``cls.forward`` for them:

- names of its globals and closure cells, and attributes of modules read
  through them (``mmcv.ops.roi_align``, ``torch.ops.my_ns.my_op``);
- methods called on ``self`` (``self._pool(x)``), also class-level static
  methods, class methods and properties, and the parents' methods called
  through ``super()``, followed recursively (up to :data:`MAX_DEPTH`);
- the function a decorator wraps (``__wrapped__`` of ``functools.wraps``,
  and a Python function held in the decorator's closure);
- attributes of ``self`` that the class does not define (set on the
  instance, e.g. ``self.align = roi_align``): their names are returned,
  and :func:`unsafe_attributes` judges the instance's values.

Module-level helper functions and methods of other objects are not
followed: following every function would reach much of mmdet's box code
(``batched_nms`` is an mmcv op on boxes, not on feature maps). The
pre-flight check (:mod:`~mmkd.models.teacher.teacher_layout_check`) covers
what reading code misses.
"""
import builtins
import dis
import functools
import inspect
import sys
import types
from typing import FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple

import torch
import torch.nn as nn

#: where compiled code that reads raw NCHW memory comes from
UNSAFE_ORIGINS = ('mmcv.ops', 'mmcv._ext')
#: where compiled functions are layout-aware or take no tensors (and
#: Python's standard library, :func:`standard_library`)
SAFE_ORIGINS = ('torch', 'builtins', 'math', '_operator', 'operator', 'numpy',
                'itertools', 'functools', 'collections', 'warnings',
                '_warnings')
#: ``torch.ops`` namespaces of PyTorch's own (layout-aware) operators
SAFE_OP_NAMESPACES = ('aten', 'prims', 'prim', 'mkldnn', 'onednn', 'quantized',
                      '_quantized', 'profiler', 'higher_order', 'inductor',
                      'c10d', '_c10d_functional', '_c10d_functional_autograd',
                      'rngprims', 'debugprims')
#: how deep :func:`unsafe_calls` follows methods called on ``self``
MAX_DEPTH = 8
_LOCAL_LOADS = ('LOAD_FAST', 'LOAD_FAST_CHECK', 'LOAD_FAST_BORROW',
                'LOAD_FAST_LOAD_FAST', 'LOAD_DEREF', 'LOAD_CLOSURE')
_GLOBAL_LOADS = ('LOAD_GLOBAL', 'LOAD_NAME')
_ATTR_LOADS = ('LOAD_ATTR', 'LOAD_METHOD')
_PASS_THROUGH = ('PRECALL', 'PUSH_NULL', 'CACHE', 'EXTENDED_ARG', 'NOP',
                 'COPY_FREE_VARS', 'RESUME')
_SELF, _SUPER = object(), object()  # markers of the symbolic walk


def origin(obj) -> str:
    """The module an object comes from; for a bound method (e.g. an
    autograd Function's ``apply``, as mmcv's ``roi_align``), its owner's."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    owner = getattr(obj, '__self__', None)
    if owner is not None and not isinstance(owner, types.ModuleType):
        return origin(owner if isinstance(owner, type) else type(owner))
    return getattr(obj, '__module__', None) or ''


def starts(name: str, prefixes: Iterable[str]) -> bool:
    """Whether module ``name`` is one of ``prefixes`` or inside one."""
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def standard_library(name: str) -> bool:
    """Whether module ``name`` is Python's own (or in :data:`SAFE_ORIGINS`,
    which stands in for the list before Python 3.10)."""
    top = name.split('.')[0]
    return top in getattr(sys, 'stdlib_module_names', ()) or \
        starts(name, SAFE_ORIGINS)


def unsafe_object(obj) -> Optional[str]:
    """What ``obj`` is, when calling it may read raw NCHW memory (see the
    module docstring); None otherwise."""
    if isinstance(obj, functools.partial):
        return unsafe_object(obj.func)
    if isinstance(obj, (staticmethod, classmethod)):
        return unsafe_object(obj.__func__)
    where = origin(obj)
    if starts(where, UNSAFE_ORIGINS):
        return 'an mmcv op'
    if where.startswith('torch.ops.') and \
            where.split('.')[2] not in SAFE_OP_NAMESPACES:
        return 'a custom torch.ops operator'
    owner = obj if isinstance(obj, type) else getattr(obj, '__self__', None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function) \
            and not starts(where, ('torch', )):
        return f'an autograd.Function of {where}'
    if isinstance(obj, types.BuiltinFunctionType) and where and \
            not standard_library(where):
        return f'compiled code of {where}'
    return None


def _describe(name: str, obj) -> Optional[str]:
    """``name`` with what :func:`unsafe_object` says of ``obj`` (mmcv's ops
    by their name only), or None for a safe object."""
    what = unsafe_object(obj)
    if what is None:
        return None
    return name if what == 'an mmcv op' else f'{name} ({what})'


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _cells(fn) -> dict:
    """``fn``'s closure cells by name (empty cells left out)."""
    cells = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            cells[name] = cell.cell_contents
        except ValueError:
            continue
    return cells


def _references(code: types.CodeType, fn, self_name: Optional[str]):
    """``(kind, name, object)`` of what ``code`` (``fn``'s code or code
    nested in it) loads: ``'global'`` (a global, or an attribute of a module
    read through one: ``mmcv.ops.roi_align``, ``torch.ops.my_ns``),
    ``'cell'`` (a closure cell of ``fn``), ``'self'`` (an attribute of
    ``self``) and ``'super'`` (an attribute of ``super()``)."""
    cells, glob = _cells(fn), fn.__globals__
    current, label = None, ''
    for ins in dis.get_instructions(code):
        op, arg = ins.opname, ins.argval
        if op in _LOCAL_LOADS:
            label = arg[-1] if isinstance(arg, tuple) else arg
            current = _SELF if label == self_name else cells.get(label)
            if current is not None and current is not _SELF:
                yield 'cell', label, current
        elif op in _GLOBAL_LOADS:
            current, label = glob.get(arg, getattr(builtins, arg, None)), arg
            yield 'global', arg, current
        elif op == 'LOAD_SUPER_ATTR' or (op in _ATTR_LOADS
                                         and current in (_SELF, _SUPER)):
            yield ('self' if current is _SELF else 'super'), arg, None
            current = None
        elif op in _ATTR_LOADS and isinstance(current, types.ModuleType):
            # attributes of modules only: no property runs; torch.ops makes
            # its namespaces on demand, at no cost
            current = getattr(current, arg, None) \
                if current.__name__ == 'torch.ops' else vars(current).get(arg)
            label = f'{label}.{arg}'
            yield 'global', label, current
        elif op.startswith('CALL') and current is builtins.super:
            current = _SUPER
        elif op not in _PASS_THROUGH:
            current = None


def _own_function(obj) -> Optional[types.FunctionType]:
    """The Python function behind a method, static or class method or
    property, unless it is PyTorch's (torch's code is layout-aware)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    elif isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, types.FunctionType) and \
            not starts(obj.__module__ or '', ('torch', )):
        return obj
    return None


class _Scan:
    """The walk of :func:`unsafe_calls` over one class."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.found: List[str] = []
        self.self_attrs: Set[str] = set()
        self.seen: Set[types.CodeType] = set()

    def function(self, fn, via: str, depth: int) -> None:
        while fn is not None and depth <= MAX_DEPTH:
            code = getattr(fn, '__code__', None)
            if code is None or code in self.seen:
                return
            self.seen.add(code)
            self_name = code.co_varnames[0] if code.co_argcount else None
            for sub in _code_objects(code):
                for kind, name, obj in _references(sub, fn, self_name):
                    self._reference(kind, name, obj, fn, via, depth)
            fn = getattr(fn, '__wrapped__', None)  # functools.wraps

    def _reference(self, kind, name, obj, fn, via, depth) -> None:
        if kind == 'self':
            obj = inspect.getattr_static(self.cls, name, None)
            if obj is None:  # set on the instance: unsafe_attributes
                self.self_attrs.add(name)
                return
            name = f'self.{name}'
        elif kind == 'super':
            mro = self.cls.__mro__
            owner = _cells(fn).get('__class__')
            rest = mro[mro.index(owner) + 1:] if owner in mro else mro[1:]
            obj = next((k.__dict__[name] for k in rest if name in k.__dict__),
                       None)
            name = f'super().{name}'
        own = _own_function(obj)
        if own is not None and kind != 'global':
            # a method, or the function a decorator's closure holds
            self.function(own, f'{via} (through {name})', depth + 1)
        elif _describe(name, obj) is not None:
            self.found.append(_describe(name, obj) + via)


@functools.lru_cache(maxsize=None)
def _scan(cls: type) -> Tuple[Tuple[str, ...], FrozenSet[str]]:
    scan = _Scan(cls)
    scan.function(getattr(cls, 'forward', None), '', 0)
    return tuple(dict.fromkeys(scan.found)), frozenset(scan.self_attrs)


def unsafe_calls(cls: type) -> Tuple[str, ...]:
    """What ``cls.forward`` reaches that may read raw NCHW memory, each
    with the way it takes, e.g. ``('ext_module', )``, ``('roi_align
    (through self._pool)', )``; ``()`` when it reaches only PyTorch and
    Python code (once per class; see the module docstring)."""
    return _scan(cls)[0]


def unsafe_attributes(module: nn.Module) -> Tuple[str, ...]:
    """The attributes of ``module`` (set on the instance) that its
    ``forward`` reads from ``self`` and that may read raw NCHW memory when
    called, e.g. ``('self.align', )`` for ``self.align = roi_align``."""
    found = []
    for name in sorted(_scan(type(module))[1]):
        what = _describe(f'self.{name}', vars(module).get(name))
        if what is not None:
            found.append(what)
    return tuple(found)


__all__ = [
    'SAFE_OP_NAMESPACES', 'UNSAFE_ORIGINS', 'origin', 'starts',
    'unsafe_attributes', 'unsafe_calls', 'unsafe_object'
]
