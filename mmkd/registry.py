# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd registries.

Each is a child of mmengine's root registry of the same kind, under scope
``mmkd``, so that a config in any default scope (``mmdet``, ``mmseg``...)
can say ``type='mmkd.Something'``. ``locations`` are imported lazily the
first time a registry is searched.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmkd',
    locations=['mmkd.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='mmkd',
    locations=['mmkd.models'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmkd',
    locations=['mmkd.engine'])
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, scope='mmkd',
    locations=['mmkd.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmkd',
    locations=['mmkd.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmkd',
    locations=['mmkd.engine'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mmkd',
    locations=['mmkd.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='mmkd',
    locations=['mmkd.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmkd',
    locations=['mmkd.datasets.transforms'])
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope='mmkd',
    locations=['mmkd.evaluation'])
