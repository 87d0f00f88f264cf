# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd registries.

Each is a child of mmengine's root registry of the same kind, under scope
``mmkd``, so that a config in any default scope (``mmdet``, ``mmseg``...)
can say ``type='mmkd.Something'``. ``locations`` are imported lazily the
first time a registry is searched.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmkd',
                  locations=['mmkd.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          scope='mmkd',
                          locations=['mmkd.models', 'mmkd.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmkd',
                 locations=['mmkd.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='mmkd',
                 locations=['mmkd.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          scope='mmkd', locations=['mmkd.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmkd',
    locations=['mmkd.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmkd',
                    locations=['mmkd.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         scope='mmkd', locations=['mmkd.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='mmkd',
                      locations=['mmkd.datasets.transforms'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmkd',
                   locations=['mmkd.evaluation'])
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='mmkd',
                   locations=['mmkd.engine'])
# mmkd's own: how to split a dense detection head (by the head's class name)
HEAD_SPLITS = Registry('head split', scope='mmkd',
                       locations=['mmkd.models.head_splits'])

# Registries mmkd adds nothing to yet: children all the same, so that a run
# in the `mmkd` default scope (classification, regression) finds mmengine's
# optimizers, schedulers, loggers and visualizers without a scope warning.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='mmkd')
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMENGINE_PARAM_SCHEDULERS, scope='mmkd')
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope='mmkd')
LOG_PROCESSORS = Registry('log processor', parent=MMENGINE_LOG_PROCESSORS,
                          scope='mmkd')
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope='mmkd')
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       scope='mmkd')
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMENGINE_WEIGHT_INITIALIZERS,
                               scope='mmkd')
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope='mmkd')
