# What a config needs to run the mmkd way under any launcher: mmkd's
# tools/train.py, mmdet's or mmseg's own tools/train.py, `mim train`, or a
# Runner built from the config in Python. Every distillation config inherits
# it (`_base_ = [<student config>, '../_base_/mmkd_runtime.py']`).
#
# - custom_imports: registers mmkd's models, losses, hooks and runner;
# - runner_type: mmkd.DistillRunner (mmkd/engine/runner.py), mmengine's
#   Runner that adds the distillation hooks (pre-flight check, plain student
#   checkpoints, resume of the connectors; mmkd/engine/distill_hooks.py)
#   to any distiller, and starts multi-process runs with or
#   without CUDA (gloo on CPUs, NCCL on GPUs).
#
# A student config that sets `custom_imports` or `runner_type` itself
# cannot be listed beside this file (mmengine refuses a key set by two
# bases): inherit the student only and write both keys in the distillation
# config, adding 'mmkd' to the student's imports.
custom_imports = dict(imports=['mmkd'], allow_failed_imports=False)
runner_type = 'mmkd.DistillRunner'
