# mmkd: the two commands are `make demo` and `make test`; each sets itself up
# (`make test-e2e`: the end-to-end runs, CI's last step).
PYTHON ?= python3
export PYTHON

.PHONY: setup lint format demo demo-seg test test-e2e gpu-check bench-cls bench-regression bench-dense bench-distill clean-demo

setup:
	bash tools/setup_env.sh

LINT_PATHS = mmkd tests tools demo configs setup.py
# configs are kept in the compact form OpenMMLab users read (flake8 only)
FORMAT_PATHS = mmkd tests tools demo setup.py

# flake8, isort and yapf at the versions of requirements/lint.txt (the same
# as .pre-commit-config.yaml); CI runs this before the tests
lint:
	$(PYTHON) -m pip install -q -r requirements/lint.txt
	$(PYTHON) -m flake8 $(LINT_PATHS)
	$(PYTHON) -m isort --check-only --diff $(FORMAT_PATHS)
	$(PYTHON) -m yapf --diff --recursive $(FORMAT_PATHS)

# rewrite the tree the way `make lint` wants it
format:
	$(PYTHON) -m pip install -q -r requirements/lint.txt
	$(PYTHON) -m isort $(FORMAT_PATHS)
	$(PYTHON) -m yapf --in-place --recursive $(FORMAT_PATHS)

demo: setup
	$(PYTHON) tools/demo.py --task det

demo-seg: setup
	$(PYTHON) tools/demo.py --task seg

# the test suite, kept under 30 minutes on 2 cores after the set-up; the
# end-to-end runs (tests marked e2e: whole pipelines, the training scripts
# in subprocesses, every real-size COCO / Cityscapes config) are a step of
# their own, test-e2e, which CI runs after it
test: setup
	$(PYTHON) -m pytest tests -q -p no:cacheprovider --durations=15 \
		-m "not e2e"

test-e2e: setup
	$(PYTHON) -m pytest tests -q -p no:cacheprovider --durations=15 -m e2e

# one CUDA GPU, about 5 minutes: real-size benchmark (fp32, AMP), the cuda
# tests, tools/dist_train.sh over NCCL; says so and stops without a GPU
gpu-check: setup
	$(PYTHON) tools/gpu_check.py

bench-cls: setup
	$(PYTHON) tools/bench_cls.py

bench-regression: setup
	$(PYTHON) tools/bench_regression.py

bench-dense: setup
	$(PYTHON) tools/bench_dense.py

bench-distill: setup
	$(PYTHON) tools/benchmark_distill.py configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py
	$(PYTHON) tools/benchmark_distill.py configs/cwd/cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py

clean-demo:
	rm -rf work_dirs/demo work_dirs/demo-seg
