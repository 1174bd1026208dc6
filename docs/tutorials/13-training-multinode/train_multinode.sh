#!/usr/bin/env bash
# Tutorial 13: the run command of a distributed training job (作业 → 训练, 节点数 2, 分布式训练框架 PyTorch). Every
# node runs it. SCOW starts one container per node and sets MASTER_ADDR, MASTER_PORT, RANK (this node's index) and
# WORLD_SIZE (the number of nodes, not of processes). Each node trains into its own folder
# $WORK_DIR/rank-<RANK>; rank 0 then merges its adapter into the model and prints where the merged model is.
# The other nodes wait until node 0 reports the merge in $WORK_DIR/rank-0/status (the nodes share WORK_DIR), so
# that a platform that ends the job when one node ends cannot stop node 0 in the middle of the merge.
# Usage: bash train_multinode.sh [key=value ...]   (extra arguments override values of sft.yaml)
# Optional: MERGE_WAIT=<seconds> (default 1800): how long nodes other than 0 wait for node 0's merge.
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 2
}

for var in MASTER_ADDR MASTER_PORT RANK WORLD_SIZE; do
    [ -n "${!var:-}" ] || fail "\$$var is not set: submit the training job with 节点数 (number of nodes) 2" \
        "and 分布式训练框架 (distributed training framework) PyTorch"
done
[[ "$WORLD_SIZE" =~ ^[1-9][0-9]*$ ]] || fail "WORLD_SIZE is '$WORLD_SIZE': the platform should set the number of nodes"
if ! [[ "$RANK" =~ ^[0-9]+$ ]] || [ "$RANK" -ge "$WORLD_SIZE" ]; then
    fail "RANK is '$RANK' but WORLD_SIZE is $WORLD_SIZE: RANK must be 0 to $((WORLD_SIZE - 1)); do not set RANK or WORLD_SIZE yourself in the run command"
fi
for var in SCOW_AI_MODEL_PATH SCOW_AI_DATASET_PATH WORK_DIR; do
    [ -n "${!var:-}" ] || fail "\$$var is not set: attach the model and the dataset to the training job"
done
[ -f "$SCOW_AI_DATASET_PATH/dataset_info.json" ] \
    || fail "$SCOW_AI_DATASET_PATH/dataset_info.json not found: attach the dataset of Tutorial 5"
[ -f "$SCOW_AI_MODEL_PATH/config.json" ] \
    || fail "$SCOW_AI_MODEL_PATH/config.json not found: attach the model Qwen2.5-1.5B-Instruct"
if ! mkdir -p "$WORK_DIR/rank-$RANK" 2>/dev/null || [ ! -w "$WORK_DIR/rank-$RANK" ]; then
    fail "cannot write to $WORK_DIR/rank-$RANK: WORK_DIR must be a folder this job may write to"
fi
here="$(cd "$(dirname "$0")" && pwd)"
# A copy of all this job prints, in the mounted tutorial folder: readable from a login node or the file manager
# while the job runs and after it ends, whichever way the platform's release shows a job's output.
log="$here/logs/node-$RANK-$(date +%Y%m%d-%H%M%S).log"
if mkdir -p "$here/logs" 2>/dev/null && : >>"$log" 2>/dev/null; then
    exec > >(tee -a "$log") 2> >(tee -a "$log" >&2)
    echo "log: $log"
else
    echo "warning: cannot write to $here/logs, so this job's output is kept nowhere but the platform's log" >&2
fi
# The datasets that sft.yaml (or a dataset=... argument) names, their entries in dataset_info.json and their
# records: checked by Tutorial 5's check_dataset.py, downloaded into this folder.
if [ -f "$here/check_dataset.py" ]; then
    python "$here/check_dataset.py" "$SCOW_AI_DATASET_PATH" "$here/sft.yaml" "$@" || exit 2
else
    echo "warning: $here/check_dataset.py not found, so the dataset is not checked before training:" \
        "download it from Tutorial 5 into this folder" >&2
fi
MERGE_WAIT="${MERGE_WAIT:-1800}"
[[ "$MERGE_WAIT" =~ ^[1-9][0-9]*$ ]] || fail "MERGE_WAIT is '$MERGE_WAIT': give the seconds to wait for node 0, e.g. MERGE_WAIT=3600"
if [ -z "${NPROC_PER_NODE:-}" ]; then
    NPROC_PER_NODE="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
    [ "$NPROC_PER_NODE" -gt 0 ] || fail "nvidia-smi lists no GPU on node $RANK: set 单节点GPU卡数 (GPUs per node) to 2"
fi

adapter_dir="$WORK_DIR/rank-$RANK/lora"
merged_dir="$WORK_DIR/merged/scow-identity"
echo "node $RANK of $WORLD_SIZE, $NPROC_PER_NODE processes on this node, master $MASTER_ADDR:$MASTER_PORT"
echo "WORK_DIR: $WORK_DIR"
echo "[1/2] training: $adapter_dir"
# Node 0 writes how the job goes into this file, one line "<state> <master address:port> <detail>": training, then
# merged (detail: the merged model's folder) or failed (detail: the exit code). The other nodes read it at the end.
status_file="$WORK_DIR/rank-0/status"
master="$MASTER_ADDR:$MASTER_PORT"
report() {
    printf '%s %s %s\n' "$1" "$master" "${2:-}" >"$status_file.tmp" && mv -f "$status_file.tmp" "$status_file"
}
if [ "$RANK" = 0 ]; then
    report training  # replaces the file of an earlier job before any other node can finish training
    on_exit() {
        local code=$?
        [ "$code" = 0 ] || report failed "exit code $code"
    }
    trap on_exit EXIT
fi
# Each node tokenizes the dataset into its own cache folder, so two nodes never write the same cache files.
export HF_DATASETS_CACHE="$WORK_DIR/datasets-cache/node-$RANK"
echo "datasets cache of this node: $HF_DATASETS_CACHE"
export FORCE_TORCHRUN=1 NNODES="$WORLD_SIZE" NODE_RANK="$RANK" NPROC_PER_NODE MASTER_ADDR MASTER_PORT
llamafactory-cli train "$here/sft.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    dataset_dir="$SCOW_AI_DATASET_PATH" \
    output_dir="$adapter_dir" \
    "$@"

if [ "$RANK" != 0 ]; then
    echo "[2/2] node $RANK has trained: waiting for node 0 to save and merge (at most $MERGE_WAIT s)"
    waited=0
    while :; do
        line=""
        [ -f "$status_file" ] && line="$(cat "$status_file")"
        read -r state address detail <<<"$line" || true
        if [ "${address:-}" != "$master" ]; then
            # Node 0 wrote this file before training began, so this node does not see node 0's WORK_DIR.
            echo "warning: $status_file is not node 0's of this job: the nodes do not share WORK_DIR, so node $RANK" \
                "cannot wait for the merge; read node 0's log for 'merged model:'" >&2
            exit 0
        fi
        case "$state" in
            merged)
                echo "node 0 merged the model: $detail"
                exit 0 ;;
            failed)
                echo "error: node 0 failed ($detail) after training: read node 0's log" >&2
                exit 1 ;;
        esac
        if [ "$waited" -ge "$MERGE_WAIT" ]; then
            echo "error: node 0 has not reported a merged model after $MERGE_WAIT s (its status: $state): read node 0's" \
                "log; to wait longer, put MERGE_WAIT=<seconds> in front of the run command" >&2
            exit 1
        fi
        [ $((waited % 60)) = 0 ] && [ "$waited" -gt 0 ] && echo "still waiting for node 0's merge ($waited s)"
        sleep 5
        waited=$((waited + 5))
    done
fi
echo "[2/2] merging: $merged_dir"
# Merging is a one-process job: hide the distributed variables from it.
env -u RANK -u WORLD_SIZE -u MASTER_ADDR -u MASTER_PORT -u FORCE_TORCHRUN -u NNODES -u NODE_RANK -u NPROC_PER_NODE \
    llamafactory-cli export "$here/merge.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    adapter_name_or_path="$adapter_dir" \
    export_dir="$merged_dir"
report merged "$merged_dir"
echo "merged model: $merged_dir"
