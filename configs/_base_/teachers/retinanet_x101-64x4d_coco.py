# Teacher: RetinaNet X101-64x4d (41.0 box AP, mmdet model zoo), under a name
# of its own so that a config with several teachers can take it beside
# another pair's teacher.
x101_teacher = dict(
    config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_x101_64x4d_fpn_1x_coco/'
    'retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth')
