# Toy Faster R-CNN teacher: twice the width of the toy student.
_base_ = ['./faster-rcnn_r18-w32_shapes-coco.py']
width = 64
neck_channels = 128
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(
        in_channels=[width, width * 2, width * 4, width * 8],
        out_channels=neck_channels),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=neck_channels),
        bbox_head=dict(in_channels=neck_channels, fc_out_channels=512)))
