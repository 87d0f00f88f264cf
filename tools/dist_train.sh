#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]
#
# torchrun starts NUM_PROCESSES training processes on this node (one per GPU;
# on a machine without CUDA, CPU processes). mmkd.DistillRunner picks the
# backend: NCCL on GPUs, gloo without CUDA (mmkd/engine/runner.py). Each
# process trains on its own shard of the data (the sampler's); rank
# 0 writes the logs and checkpoints. NNODES, NODE_RANK, MASTER_ADDR and PORT
# (default 29500) set a multi-node or second concurrent run.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
torchrun \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
