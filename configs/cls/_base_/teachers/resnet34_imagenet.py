# Teacher ResNet-34 (ImageNet): its config and the last checkpoint of its
# 100-epoch training. Train (or convert) it first:
#   python tools/train.py configs/cls/imagenet/resnet34_imagenet.py
# (the papers use torchvision's pretrained ResNet-34; see that config)
teacher = dict(
    config='configs/cls/imagenet/resnet34_imagenet.py',
    checkpoint='work_dirs/resnet34_imagenet/epoch_100.pth')
