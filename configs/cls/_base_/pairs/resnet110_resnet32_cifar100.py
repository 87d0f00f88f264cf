# Pair resnet110 (teacher) -> resnet32 (student) on CIFAR-100, distilled on
# the logits (head.fc); the method configs
# (configs/cls/{kd,dkd,rld,ldrld}/*_resnet110_resnet32_cifar100.py) set the
# loss.
_base_ = ['../../cifar100/resnet32_cifar100.py',  # student
          '../teachers/resnet110_cifar100.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
