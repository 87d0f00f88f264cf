#!/usr/bin/env bash
# One-shot, idempotent set-up of the mmkd stack on a CPU machine.
#
#   torch 2.13.0 (CPU wheel; only when no torch is installed; never a CUDA
#   build, never torchvision), mmcv 2.1.0 compiled with its CPU ops (pip's
#   wheel cache makes a rebuild instant), mmengine 0.10.7, mmdet 3.3.0,
#   mmsegmentation 1.2.2, mmkd itself (editable) and openmim 0.3.9.
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

# 2. mmcv 2.1.0 with compiled ops (no prebuilt wheel exists for this torch).
if dist_is mmcv 2.1.0 && $PY -c 'import mmcv.ops' 2>/dev/null; then
  say 'mmcv 2.1.0 with ops present'
else
  say 'building mmcv 2.1.0 with CPU ops (about 10-20 min the first time;'
  say 'pip caches the wheel, later set-ups reuse it)'
  # mmcv's setup.py needs pkg_resources APIs dropped in setuptools>=70;
  # ninja parallelises the C++ build.
  $PIP install $PIP_FLAGS 'setuptools<70' wheel ninja 'numpy<2' 'mmengine==0.10.7'
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    $PIP install $PIP_FLAGS --no-build-isolation mmcv==2.1.0
fi

# 3. the rest of the stack (never torchvision); pinned versions only.
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
if dist_is openmim 0.3.9 && $PY -c 'import mim' 2>/dev/null; then
  say 'openmim 0.3.9 present'
else
  say 'installing openmim 0.3.9 (without its dependency tree)'
  $PIP install $PIP_FLAGS --no-deps 'openmim==0.3.9' model-index \
    ordered-set markdown tabulate 'pandas<2.3' pytz tzdata
fi

$PY - <<'PYEOF'
import mmcv, mmdet, mmengine, mmseg, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  compiled ops
import mmkd
print(f'[mmkd setup] ready: torch {torch.__version__}, mmengine '
      f'{mmengine.__version__}, mmcv {mmcv.__version__} (ops OK: nms, '
      f'RoIAlign), mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'mmkd {mmkd.__version__}')
PYEOF
