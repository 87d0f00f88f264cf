# Pair ResNet-34 (teacher) -> ResNet-18 (student) on ImageNet, distilled on
# the logits (head.fc); the method configs
# (configs/cls/{kd,dkd,rld,ldrld,lsh}/*_resnet34_resnet18_imagenet.py) set
# the loss (LSH distils the penultimate features instead).
_base_ = ['../../imagenet/resnet18_imagenet.py',  # student
          '../teachers/resnet34_imagenet.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
