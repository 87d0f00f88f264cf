# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd's import graph, read from the source (ast): no cycle, and no lower
layer importing a higher one. Imports inside functions count: a lazy import
is still a dependency.

Layers, low to high: ``utils``/``registry``/``structures``/``version``;
``datasets``/``evaluation``/``models``/``visualization``; ``engine``;
``apis``; the package root (``mmkd/__init__.py``, ``import_effects``). A
module imports its own layer or lower ones. The one exception is
``mmkd.utils.setup_env.register_all_modules``, OpenMMLab's entry point that
imports every registering package by design (as ``mmdet.utils`` does).
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Set

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(REPO, 'mmkd')

LAYERS = {
    'utils': 0,
    'registry': 0,
    'structures': 0,
    'version': 0,
    'datasets': 1,
    'evaluation': 1,
    'models': 1,
    'visualization': 1,
    'engine': 2,
    'apis': 3,
    '': 4,
    'import_effects': 4,
}
MAY_IMPORT_ANY_LAYER = {'mmkd.utils.setup_env'}


def module_files() -> Dict[str, str]:
    """``{'mmkd.models.losses.base': path, 'mmkd.models': .../__init__}``"""
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith('.py'):
                continue
            rel = osp.relpath(osp.join(root, name), REPO)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            found['.'.join(parts)] = osp.join(root, name)
    return found


def imports_of(module: str, path: str, modules: Set[str]) -> Set[str]:
    """The mmkd modules ``module`` imports (anywhere in the file)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    is_package = path.endswith('__init__.py')
    package = module if is_package else module.rpartition('.')[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                stem = '.'.join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            names = [
                f'{stem}.{alias.name}'
                if f'{stem}.{alias.name}' in modules else stem
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name.split('.')[0] == 'mmkd' and name != module:
                # the named module itself; parent packages are not edges
                while name not in modules and '.' in name:
                    name = name.rpartition('.')[0]
                targets.add(name)
    return targets


def import_graph() -> Dict[str, Set[str]]:
    files = module_files()
    return {m: imports_of(m, p, set(files)) for m, p in files.items()}


def layer(module: str) -> int:
    parts = module.split('.')
    return LAYERS[parts[1] if len(parts) > 1 else '']


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle (as a path that ends where it starts), or []."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_every_module_has_a_layer():
    unplaced = {
        m.split('.')[1]
        for m in module_files() if '.' in m and m.split('.')[1] not in LAYERS
    }
    assert not unplaced, f'give {sorted(unplaced)} a layer in LAYERS'


def test_the_graph_is_read():
    graph = import_graph()
    assert 'mmkd.engine.distill_hooks' in graph['mmkd.apis.runner_cfg']
    assert 'mmkd.models.recording.recorder' in graph[
        'mmkd.models.teacher.teacher_execution']


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, 'import cycle: ' + ' -> '.join(cycle)


def test_no_lower_layer_imports_a_higher_one():
    wrong = sorted(f'{m} (layer {layer(m)}) imports {t} (layer {layer(t)})'
                   for m, targets in import_graph().items()
                   if m not in MAY_IMPORT_ANY_LAYER for t in targets
                   if layer(t) > layer(m))
    assert not wrong, '\n'.join(wrong)


def test_the_checks_catch_what_they_should():
    assert find_cycle({
        'a': {'b'},
        'b': {'c'},
        'c': {'a'}
    }) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) == []
    assert layer('mmkd.models.losses.base') < layer('mmkd.engine.runner')
    assert layer('mmkd.engine.runner') < layer('mmkd.apis.runner_cfg')
