# Copyright (c) mmkd contributors. All rights reserved.
"""Does the installed mmcv have the compiled ops the set-up asks for?

    python tools/misc/check_mmcv_ops.py cpu|cuda

``cpu``: ``mmcv.ops`` imports (its compiled extension loads). ``cuda``: the
extension was compiled with CUDA kernels; where a GPU is visible, NMS and
RoIAlign also run on it. Without a visible GPU the kernels cannot be run,
so the build is judged by what it was compiled with
(``mmcv.ops.get_compiling_cuda_version``): a CUDA build made for a later GPU
machine passes, and the set-up does not rebuild it on every run.
Exits 0 when the ops are there, 1 (saying why) when not.
"""
import sys


def cuda_kernels_built() -> bool:
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() not in ('', 'not available')


def run_on_gpu() -> None:
    import torch
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 4., 4.], [0., 0., 4., 5.]], device='cuda')
    nms(boxes, torch.tensor([0.9, 0.8], device='cuda'), 0.5)
    RoIAlign((2, 2), 1.0, 0)(torch.rand(1, 1, 8, 8, device='cuda'),
                             torch.tensor([[0., 0., 0., 4., 4.]],
                                          device='cuda'))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ('cpu', 'cuda'):
        print('usage: check_mmcv_ops.py cpu|cuda')
        return 2
    try:
        import mmcv.ops  # noqa: F401  the compiled extension loads
    except Exception as e:  # ImportError, or an extension that fails
        print(f'mmcv.ops does not import: {type(e).__name__}: {e}')
        return 1
    if argv[0] == 'cpu':
        return 0
    if not cuda_kernels_built():
        print('mmcv was compiled without CUDA kernels')
        return 1
    import torch
    if not torch.cuda.is_available():
        print('mmcv has CUDA kernels (not run: no GPU is visible)')
        return 0
    try:
        run_on_gpu()
    except Exception as e:
        print(f'mmcv\'s CUDA ops do not run on this GPU: {e}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
