#!/usr/bin/env bash
# One-shot, idempotent set-up of the mmkd stack, on a CPU or a GPU machine.
#
#   torch 2.13.0 (CPU wheel; only when no torch is installed; never a CUDA
#   build), mmcv 2.1.0 compiled with its ops, mmengine 0.10.7, mmdet
#   3.3.0, mmsegmentation 1.2.2, the torchvision that pairs with torch
#   where one imports, mmkd itself (editable) and openmim 0.3.9.
#
# mmcv's ops: with a CUDA build of torch that sees a GPU (install it first,
# from pytorch.org), mmcv is compiled with its CUDA ops (FORCE_CUDA=1, for
# the architecture of the visible GPUs; needs an nvcc whose CUDA major
# version is torch's); otherwise with its CPU ops. MMKD_MMCV_OPS=cpu|cuda
# overrides the choice; TORCH_CUDA_ARCH_LIST, if set, the architectures.
#
# Every step checks first and skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PIP="$PY -m pip"
PIP_FLAGS=${PIP_FLAGS:---disable-pip-version-check -q}
export PIP_NO_INPUT=1

say() { printf '[mmkd setup] %s\n' "$*"; }

# dist_is NAME VERSION: the installed distribution NAME has VERSION
dist_is() {
  $PY - "$1" "$2" <<'PYEOF' 2>/dev/null
import sys
from importlib import metadata
try:
    v = metadata.version(sys.argv[1])
except metadata.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if v.split('+')[0] == sys.argv[2] else 1)
PYEOF
}

# 1. torch: keep an installed one, else the local CPU wheel.
if $PY -c 'import torch' 2>/dev/null; then
  say "torch $($PY -c 'import torch; print(torch.__version__)') present"
else
  say 'installing torch==2.13.0 (CPU wheel)'
  $PIP install $PIP_FLAGS torch==2.13.0
fi
if $PY -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null; then
  say 'note: the installed torch is a CUDA build; mmkd runs on it, but this'
  say '      set-up never installs one.'
fi

# setuptools: mmengine resolves `mmdet::`/`mmseg::` configs through
# pkg_resources (removed from setuptools 81); torch 2.13 asks for >=77.
RUNTIME_SETUPTOOLS='setuptools>=77,<81'

# 2. mmcv 2.1.0 with compiled ops (no prebuilt wheel exists for this torch):
#    CUDA ops where torch is a CUDA build that sees a GPU, CPU ops elsewhere.
OPS=${MMKD_MMCV_OPS:-}
if [ -z "$OPS" ]; then
  if $PY -c 'import torch, sys; sys.exit(0 if torch.version.cuda and torch.cuda.is_available() else 1)' 2>/dev/null; then
    OPS=cuda
  else
    OPS=cpu
  fi
fi
case "$OPS" in cpu|cuda) ;; *)
  say "MMKD_MMCV_OPS=$OPS: use cpu or cuda"; exit 2 ;;
esac

# mmcv_ops_ok: mmcv 2.1.0 is installed with the ops asked for
# (tools/misc/check_mmcv_ops.py: CPU ops import; CUDA ops were compiled in,
# and run where a GPU is visible -- without one, a CUDA build is judged by
# what it was compiled with, so it is not rebuilt on every set-up)
mmcv_ops_ok() {
  dist_is mmcv 2.1.0 || return 1
  $PY tools/misc/check_mmcv_ops.py "$OPS" 2>/dev/null
}

# cuda_prerequisites: a CUDA torch and a matching nvcc, else say what to
# install and stop (before anything is installed); sets TORCH_CUDA,
# NVCC_CUDA and ARCHS
cuda_prerequisites() {
  TORCH_CUDA=$($PY -c 'import torch; print(torch.version.cuda or "")')
  if [ -z "$TORCH_CUDA" ]; then
    say 'MMKD_MMCV_OPS=cuda, but the installed torch is a CPU build.'
    say 'Install a CUDA build of torch first (pytorch.org); this set-up'
    say 'never installs one.'
    exit 1
  fi
  NVCC=${CUDA_HOME:+$CUDA_HOME/bin/}nvcc
  if ! command -v "$NVCC" >/dev/null 2>&1; then
    say "torch is a CUDA $TORCH_CUDA build, but there is no nvcc (looked"
    say "for $NVCC): mmdet's RoIAlign, NMS and focal loss need mmcv's CUDA"
    say "ops. Install the CUDA toolkit $TORCH_CUDA (the major version must"
    say 'be the one torch was built with) and set CUDA_HOME, or set'
    say 'MMKD_MMCV_OPS=cpu to build the CPU ops only.'
    exit 1
  fi
  NVCC_CUDA=$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  if [ "${NVCC_CUDA%%.*}" != "${TORCH_CUDA%%.*}" ]; then
    say "nvcc is CUDA $NVCC_CUDA, torch was built with CUDA $TORCH_CUDA:"
    say 'the major versions must agree. Point CUDA_HOME at a CUDA'
    say "${TORCH_CUDA%%.*}.x toolkit."
    exit 1
  fi
  ARCHS=${TORCH_CUDA_ARCH_LIST:-$($PY -c 'import torch; print(";".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))')}
  if [ -z "$ARCHS" ]; then
    say 'no GPU visible to name its architecture: set TORCH_CUDA_ARCH_LIST'
    say '(e.g. "8.0;9.0")'
    exit 1
  fi
}

if mmcv_ops_ok >/dev/null; then
  say "mmcv 2.1.0 with $OPS ops present"
else
  [ "$OPS" = cuda ] && cuda_prerequisites
  # mmcv's setup.py needs pkg_resources APIs dropped in setuptools>=70;
  # ninja parallelises the C++ build.
  $PIP install $PIP_FLAGS 'setuptools<70' wheel ninja 'numpy<2' 'mmengine==0.10.7'
  if [ "$OPS" = cuda ]; then
    say "building mmcv 2.1.0 with its CUDA ops (FORCE_CUDA=1) for GPU"
    say "architecture(s) $ARCHS, torch CUDA $TORCH_CUDA, nvcc $NVCC_CUDA;"
    say "expect 15-40 min with $(nproc) cores (MAX_JOBS sets the parallelism)"
    # --no-cache-dir: never reuse (or cache) a wheel built without CUDA ops
    MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCHS" \
      MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PIP install $PIP_FLAGS --no-cache-dir --force-reinstall --no-deps \
      --no-build-isolation mmcv==2.1.0
    mmcv_ops_ok >/dev/null || {
      say "mmcv built, but: $($PY tools/misc/check_mmcv_ops.py cuda)"; exit 1; }
  else
    say 'building mmcv 2.1.0 with CPU ops (about 10-20 min the first time;'
    say 'pip caches the wheel, later set-ups reuse it)'
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PIP install $PIP_FLAGS --no-build-isolation mmcv==2.1.0
  fi
fi

# 3. the rest of the stack; pinned versions only.
if dist_is mmdet 3.3.0 && dist_is mmsegmentation 1.2.2 && \
   dist_is mmengine 0.10.7 && $PY -c 'import ftfy, regex, pycocotools, pkg_resources' 2>/dev/null; then
  say 'mmengine 0.10.7, mmdet 3.3.0, mmsegmentation 1.2.2 present'
else
  say 'installing mmengine, mmdet, mmsegmentation'
  $PIP install $PIP_FLAGS 'mmengine==0.10.7' 'mmdet==3.3.0' \
    'mmsegmentation==1.2.2' ftfy regex pycocotools scipy matplotlib \
    'numpy<2' Pillow "$RUNTIME_SETUPTOOLS" pytest
fi
if ! $PY -c 'import setuptools, sys; v = int(setuptools.__version__.split(".")[0]); sys.exit(0 if 77 <= v < 81 else 1)' 2>/dev/null; then
  $PIP install $PIP_FLAGS "$RUNTIME_SETUPTOOLS"
fi

# 3b. torchvision, for the students' `torchvision://` initialisation: the
#     build that pairs with the installed torch (torch 2.N: torchvision
#     0.(N+15)), without dependencies (never another torch), kept only if it
#     imports. The registry's builds do not load against the CPU torch 2.13
#     wheel (`operator torchvision::nms does not exist`): then it is removed
#     again and the set-up says so once per environment (a marker file in
#     the environment's prefix); such runs point init_cfg at a local file.
if $PY -c 'import torchvision' 2>/dev/null; then
  say "torchvision $($PY -c 'import torchvision; print(torchvision.__version__)') present"
else
  TORCH_V=$($PY -c 'import torch; print(torch.__version__.split("+")[0])')
  TV_REQ=$($PY -c 'import sys; a, b = map(int, sys.argv[1].split(".")[:2]); print(f"torchvision==0.{b + 15}.*" if a == 2 else "torchvision")' "$TORCH_V")
  MARK="$($PY -c 'import sys; print(sys.prefix)')/.mmkd-no-torchvision-$TORCH_V"
  if [ ! -f "$MARK" ]; then
    say "installing $TV_REQ (for torch $TORCH_V, without dependencies)"
    if $PIP install $PIP_FLAGS --no-deps "$TV_REQ" >/dev/null 2>&1 && \
       $PY -c 'import torchvision' >/dev/null 2>&1; then
      say "torchvision $($PY -c 'import torchvision; print(torchvision.__version__)') installed"
    else
      $PIP uninstall $PIP_FLAGS -y torchvision >/dev/null 2>&1 || true
      touch "$MARK" 2>/dev/null || true
    fi
  fi
  if ! $PY -c 'import torchvision' 2>/dev/null; then
    say "no torchvision that imports with torch $TORCH_V is available here;"
    say "students initialised from torchvision:// need a local file"
    say "(mmkd says which --cfg-options; docs/user_guides/bad_inputs.md)"
  fi
fi

# 4. mmkd itself, editable. Its dependencies are all in place by now;
#    --no-deps keeps pip from re-resolving torch's own requirements.
# (checked from another directory: the repo root itself is importable)
REPO=$(pwd)
if (cd / && MMKD_SKIP_VERSION_CHECK=1 $PY -c 'import mmkd, sys, pathlib; sys.exit(0 if pathlib.Path(mmkd.__file__).resolve().parents[1] == pathlib.Path(sys.argv[1]).resolve() else 1)' "$REPO") 2>/dev/null; then
  say 'mmkd (editable) present'
else
  say 'installing mmkd (editable)'
  $PIP install $PIP_FLAGS --no-deps --no-build-isolation -e .
fi

# 5. openmim 0.3.9 (`mim train`, one of the launchers the tests run). Its own
#    dependency tree (opendatalab -> openxlab) would pin setuptools 60,
#    numpy 2 and an old requests, breaking the stack above: installed
#    without it, plus exactly what `mim train` imports.
#    Checked by running its command line (`mim train --help`), not by a
#    list: a module it imports that is missing is found here.
mim_train_help() {
  $PY -c 'import sys; from mim.cli import cli; sys.argv = ["mim", "train", "--help"]; cli()'
}
mim_runs() { mim_train_help >/dev/null 2>&1; }
if dist_is openmim 0.3.9 && mim_runs; then
  say 'openmim 0.3.9 present'
else
  say 'installing openmim 0.3.9 (without its dependency tree)'
  # its command line's own imports, with their dependencies (none of them
  # pins numpy or setuptools), then openmim and its light ones alone
  $PIP install $PIP_FLAGS click colorama requests rich
  $PIP install $PIP_FLAGS --no-deps 'openmim==0.3.9' model-index \
    ordered-set markdown tabulate 'pandas<2.3' pytz tzdata
  mim_runs || {
    say 'openmim installed, but `mim train --help` fails:'
    mim_train_help 2>&1 | tail -3
    exit 1
  }
fi

MMKD_OPS=$OPS $PY - <<'PYEOF'
import mmcv, mmdet, mmengine, mmseg, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  compiled ops
import mmkd
import os
where = 'CUDA and CPU' if os.environ['MMKD_OPS'] == 'cuda' else 'CPU'
print(f'[mmkd setup] ready: torch {torch.__version__}, mmengine '
      f'{mmengine.__version__}, mmcv {mmcv.__version__} ({where} ops OK: '
      f'nms, RoIAlign), mmdet {mmdet.__version__}, mmseg '
      f'{mmseg.__version__}, mmkd {mmkd.__version__}')
PYEOF
