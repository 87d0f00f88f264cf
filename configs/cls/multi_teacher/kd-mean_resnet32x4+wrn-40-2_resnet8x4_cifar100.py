# KD (Hinton et al., 2015) from the mean of two teachers' logits, resnet32x4
# and wrn_40_2, to resnet8x4 on CIFAR-100, with the mdistiller recipe of
# the one-teacher KD config (T 4, 0.1 CE + 0.9 KD): the target is
# softmax(mean(zt_k) / T), the mean of the temperature-scaled logits.
# No published number (one-teacher KD resnet32x4 -> resnet8x4: 73.33).
# Train the teachers first:
#   python tools/train.py configs/cls/cifar100/resnet32x4_cifar100.py
#   python tools/train.py configs/cls/cifar100/wrn_40_2_cifar100.py
# the one-teacher KD config (student, resnet32x4 as `teacher`, the loss) and
# the wrn_40_2 teacher (`wrn_40_2_teacher`)
_base_ = ['../kd/kd_resnet32x4_resnet8x4_cifar100.py',
          '../_base_/teachers/wrn_40_2_cifar100.py']
model = dict(
    type='mmkd.MultiTeacherDistiller', teacher=None,
    teachers=dict(resnet32x4=_base_.teacher, wrn_40_2=_base_.wrn_40_2_teacher),
    # the logits of both teachers, averaged
    distill={'head.fc': dict(
        teacher=['resnet32x4.head.fc', 'wrn_40_2.head.fc'], ensemble='mean')})
