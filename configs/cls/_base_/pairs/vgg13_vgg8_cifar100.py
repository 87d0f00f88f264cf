# Pair vgg13 (teacher) -> vgg8 (student) on CIFAR-100, distilled on the
# logits (head.fc); the method configs
# (configs/cls/{kd,dkd,rld,ldrld}/*_vgg13_vgg8_cifar100.py) set the loss.
_base_ = ['../../cifar100/vgg8_cifar100.py',  # student
          '../teachers/vgg13_cifar100.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
