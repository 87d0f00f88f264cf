# Copyright (c) mmkd contributors. All rights reserved.
import pytest

from mmkd.utils import load_config


def test_missing_config_path_is_named():
    with pytest.raises(FileNotFoundError, match='configs/nope.py'):
        load_config('configs/nope.py')


def test_missing_package_config_is_named():
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_config('mmdet::retinanet/no_such_config.py')


def test_package_config_loads():
    cfg = load_config('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                      dict(model=dict(bbox_head=dict(num_classes=3))))
    assert cfg.model.type == 'RetinaNet'
    assert cfg.model.bbox_head.num_classes == 3


def test_train_tool_reports_missing_config(repo_root):
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/does_not_exist.py'],
        cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "config file 'configs/does_not_exist.py' does not exist" in \
        proc.stderr
