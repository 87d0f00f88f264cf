# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the
# segmentation logits: 8 dropout avatars (p = 0.1), per-channel uncertainty.
# Target (METHODS.md): PSPNet R101 (79.76) -> R18 (74.87); CWD alone 75.54 mIoU; AKD: up to +1.83 mIoU over the base (abstract)
# student
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmseg model zoo)
teacher = dict(
    config='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x1024_80k_cityscapes/pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss
    distill=[
        dict(student='decode_head.conv_seg', teacher='decode_head.conv_seg',
             loss=dict(
                 type='mmkd.AvatarLoss',
                 base=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5),
                 num_avatars=8,
                 drop_prob=0.1,
                 uncertainty='channel'))
    ])
