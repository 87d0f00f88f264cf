# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.model import is_model_wrapper


def unwrap_model(model):
    """The model inside DDP/FSDP wrappers."""
    return model.module if is_model_wrapper(model) else model


def is_distiller(model) -> bool:
    return hasattr(unwrap_model(model), 'distill_entries')
