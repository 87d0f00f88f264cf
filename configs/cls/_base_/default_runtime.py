# Runtime shared by the classification configs (mmengine Runner); with
# custom_imports and runner_type from ../../_base_/mmkd_runtime.py so that
# they run the same under any launcher.
_base_ = ['../../_base_/mmkd_runtime.py']
default_scope = 'mmkd'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # every 10 epochs (the last 2 kept) and the last epoch, always saved as
    # epoch_<max_epochs>.pth: distill configs point their teacher there
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
