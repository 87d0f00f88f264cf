# Pair wrn_40_2 (teacher) -> wrn_40_1 (student) on CIFAR-100, distilled on
# the logits (head.fc); the method configs
# (configs/cls/{kd,dkd,rld,ldrld,lsh}/*_wrn-40-2_wrn-40-1_cifar100.py) set
# the loss (LSH distils the penultimate features instead).
_base_ = ['../../cifar100/wrn_40_1_cifar100.py',  # student
          '../teachers/wrn_40_2_cifar100.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.wrn_40_2_teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
