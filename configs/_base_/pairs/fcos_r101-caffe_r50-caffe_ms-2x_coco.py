# Pair: FCOS R101-caffe (teacher, 40.8 box AP) -> R50-caffe (student, 38.5),
# multi-scale 2x on COCO, distilled on the FPN levels. The method configs
# (configs/akd/akd-cwd_fpn_fcos_r101-caffe_r50-caffe_ms-2x_coco.py) set the
# loss; CrossKD (configs/crosskd/*_fcos_r101-caffe_r50-caffe_ms-2x_coco.py)
# distils the head's predictions, with or without the FPN.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/fcos/'
    'fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco/'
    'fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco-511424d6.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
