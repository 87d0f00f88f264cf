# custom_imports and runner_type from ../../_base_/mmkd_runtime.py, so that
# these configs run the same under any launcher.
_base_ = ['../../_base_/mmkd_runtime.py']
default_scope = 'mmkd'
# the hooks of the teacher and the student runs (each runtime sets its
# logging interval; the checkpoint is the last state only, the best one
# is written by mmkd.BestStateHook)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1, save_last=True))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_level = 'INFO'
load_from = None
resume = False
