# Pair resnet32x4 (teacher) -> resnet8x4 (student) on CIFAR-100, distilled on
# the logits (head.fc); the method configs
# (configs/cls/{kd,dkd,rld,ldrld,lsh}/*_resnet32x4_resnet8x4_cifar100.py) set
# the loss (LSH distils the penultimate features instead).
_base_ = ['../../cifar100/resnet8x4_cifar100.py',  # student
          '../teachers/resnet32x4_cifar100.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
