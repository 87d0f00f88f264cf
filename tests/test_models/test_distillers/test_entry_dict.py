# Copyright (c) mmkd contributors. All rights reserved.
"""Distill entries keyed by name: a config overrides one entry of its
base."""
import pytest
from mmengine.config import Config

from mmkd.models.distillers.entry_config import entry_cfgs


def test_dict_entries_take_their_key_as_name():
    cfgs = entry_cfgs(
        dict(
            neck=dict(student='neck', teacher='neck',
                      loss=dict(type='mmkd.PKDLoss')), head=None))
    assert [c['name'] for c in cfgs] == ['neck']  # None drops an entry
    assert entry_cfgs([dict(student='a', teacher='a', loss={})])[0] == \
        dict(student='a', teacher='a', loss={})


def test_bad_entry_containers():
    with pytest.raises(ValueError, match="key is the entry's name"):
        entry_cfgs(dict(neck=dict(name='other')))
    with pytest.raises(TypeError, match=r"distill\['neck'\] must be a dict"):
        entry_cfgs(dict(neck='PKD'))
    with pytest.raises(TypeError, match='a dict {name: entry} or a list'):
        entry_cfgs('neck')


def test_a_config_overrides_one_entry_of_its_base(tmp_path):
    base = tmp_path / 'base.py'
    base.write_text(
        "model = dict(type='mmkd.SingleTeacherDistiller', distill=dict(\n"
        "    neck=dict(student='neck', teacher='neck',\n"
        "              loss=dict(type='mmkd.PKDLoss', loss_weight=6)),\n"
        "    head=dict(student='bbox_head.retina_cls',\n"
        "              teacher='bbox_head.retina_cls',\n"
        "              loss=dict(type='mmkd.FeatureMSELoss'))))\n")
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./base.py']\n"
                     "model = dict(distill=dict(\n"
                     "    neck=dict(loss=dict(type='mmkd.CWDLoss', tau=1.0,\n"
                     "                        _delete_=True)),\n"
                     "    head=None))\n")
    cfgs = entry_cfgs(Config.fromfile(str(child)).model.distill)
    assert [c['name'] for c in cfgs] == ['neck']
    assert cfgs[0]['student'] == 'neck'  # kept from the base
    assert cfgs[0]['loss'] == dict(type='mmkd.CWDLoss', tau=1.0)
