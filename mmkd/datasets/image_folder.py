# Copyright (c) mmkd contributors. All rights reserved.
"""Classification images stored one folder per class (ImageNet layout)."""
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset

from mmkd.registry import DATASETS

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


@DATASETS.register_module()
class ImageFolder(BaseDataset):
    """Images in ``data_root/data_prefix['img_path']/<class>/<file>``.

    The layout of torchvision's ``ImageFolder`` and of ImageNet as usually
    prepared (``train/n01440764/*.JPEG``, and ``val/`` sorted into the same
    class folders). Classes are the sub-folder names in sorted order (class
    ``i`` is the ``i``-th name), unless ``metainfo['classes']`` lists them,
    in which case every listed class needs a folder and other folders are
    an error. Images are found by extension (case-insensitive), recursively
    inside each class folder, in sorted order. Each data info is
    ``dict(img_path, gt_label)``: images are read by the pipeline (e.g.
    ``dict(type='LoadImageFromFile')``, mmcv).

    Args:
        data_root (str): root of the data set.
        data_prefix (dict): ``dict(img_path=SUBFOLDER)``, the split's
            folder under ``data_root`` (e.g. ``'train'``). Defaults to the
            root itself.
        extensions (Sequence[str]): image file extensions. Defaults to the
            common ones (``.jpg``, ``.jpeg``, ``.png``...).
        **kwargs: other arguments of :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``metainfo``, ``test_mode``, ``indices``...).
    """

    def __init__(self, data_root: str = '', data_prefix: Optional[dict] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs) -> None:
        if isinstance(extensions, str) or not extensions:
            raise ValueError('extensions must be a non-empty sequence such '
                             f"as ('.jpg', '.png'), got {extensions!r}")
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(
            data_root=data_root, data_prefix=dict(
                img_path='') if data_prefix is None else data_prefix, **kwargs)

    def _class_folders(self, folder: str) -> List[str]:
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'ImageFolder: the image folder {folder!r} does not exist '
                f'(data_root={self.data_root!r}, data_prefix='
                f'{self.data_prefix!r}); it must hold one sub-folder per '
                'class, e.g. train/n01440764/*.JPEG for ImageNet.')
        found = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        given = self._metainfo.get('classes')
        if given is None:
            if not found:
                raise ValueError(f'ImageFolder: {folder!r} has no class '
                                 'sub-folder; put the images of each class '
                                 'in a folder named after it')
            self._metainfo['classes'] = tuple(found)
            return found
        given = list(given)
        missing = [c for c in given if c not in found]
        extra = [c for c in found if c not in given]
        if missing or extra:
            raise ValueError(
                f'ImageFolder: the classes of metainfo do not match the '
                f'folders of {folder!r}: no folder for {missing[:5]}'
                f'{"..." if len(missing) > 5 else ""}, folders not in '
                f'classes {extra[:5]}{"..." if len(extra) > 5 else ""}')
        return given

    def _images_in(self, folder: str) -> List[str]:
        paths = []
        for root, dirs, files in os.walk(folder, followlinks=True):
            dirs.sort()
            paths.extend(
                osp.join(root, name) for name in sorted(files)
                if name.lower().endswith(self.extensions))
        return paths

    def load_data_list(self) -> List[dict]:
        folder = self.data_prefix['img_path']
        classes = self._class_folders(folder)
        data_list = []
        for label, name in enumerate(classes):
            data_list.extend(
                dict(img_path=path, gt_label=label)
                for path in self._images_in(osp.join(folder, name)))
        if not data_list:
            raise ValueError(f'ImageFolder: no image with extension '
                             f'{self.extensions} under {folder!r}')
        return data_list
