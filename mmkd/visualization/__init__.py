# Copyright (c) mmkd contributors. All rights reserved.
from .avatars import avatar_panels, prepare_image, save_avatar_grid

__all__ = ['avatar_panels', 'prepare_image', 'save_avatar_grid']
