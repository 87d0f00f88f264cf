# Copyright (c) mmkd contributors. All rights reserved.
"""The demo and the dense benchmark (`make demo`, `make demo-seg`,
`make bench-dense`): orchestration on top of mmkd, not part of the installed
package. ``pipeline`` holds the pieces both share (synthetic data, the toy
configs at a given size and seed, cached training steps); ``bench_dense``
the multi-seed benchmark and its paired statistics."""
