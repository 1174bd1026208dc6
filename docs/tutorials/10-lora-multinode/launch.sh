#!/usr/bin/env bash
# Tutorial 10: start this node's part of a 2-node LoRA fine-tuning run (sft.yaml) in a SCOW AI VSCode app.
# Usage:
#   export MASTER_ADDR=<the master app's address>     (hostname -i in the master app's terminal)
#   NODE_RANK=0 bash launch.sh     in the master app;    NODE_RANK=1 bash launch.sh     in the other app
# Extra key=value arguments override values of sft.yaml. Optional: NNODES (default 2), MASTER_PORT (default
# 29500), NPROC_PER_NODE (default: the number of GPUs nvidia-smi lists).
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 2
}

NNODES="${NNODES:-2}"
MASTER_PORT="${MASTER_PORT:-29500}"
[ -n "${NODE_RANK:-}" ] || fail "NODE_RANK is not set: run NODE_RANK=0 bash launch.sh in the master app and NODE_RANK=1 bash launch.sh in the other app"
[ -n "${MASTER_ADDR:-}" ] || fail "MASTER_ADDR is not set: run hostname -i in the master app's terminal, then export MASTER_ADDR=<that address> in both apps"
case "$MASTER_ADDR" in
    *[\<\>]*) fail "MASTER_ADDR is '$MASTER_ADDR': replace the placeholder with the address hostname -i printed in the master app" ;;
    *[[:space:]]*) fail "MASTER_ADDR is '$MASTER_ADDR', more than one address (hostname -i printed several): export MASTER_ADDR=<one of them>, the IPv4 address such as 10.1.2.3, in both apps" ;;
esac
[[ "$NNODES" =~ ^[1-9][0-9]*$ ]] || fail "NNODES is '$NNODES': give the number of nodes (apps), e.g. 2"
if ! [[ "$NODE_RANK" =~ ^[0-9]+$ ]] || [ "$NODE_RANK" -ge "$NNODES" ]; then
    if [ "$NNODES" -eq 1 ]; then
        fail "NODE_RANK is '$NODE_RANK' but NNODES is 1: a one-node run has only NODE_RANK=0"
    fi
    if [ "$NNODES" -eq 2 ]; then
        fail "NODE_RANK is '$NODE_RANK': use 0 in the master app and 1 in the other app (NNODES=2)"
    fi
    fail "NODE_RANK is '$NODE_RANK': use 0 in the master app and 1 to $((NNODES - 1)) in the other apps, one number per app (NNODES=$NNODES)"
fi

for var in SCOW_AI_MODEL_PATH SCOW_AI_DATASET_PATH WORK_DIR; do
    [ -n "${!var:-}" ] || fail "\$$var is not set: run this in a SCOW AI app that has the model and the dataset attached"
done
[ -f "$SCOW_AI_DATASET_PATH/dataset_info.json" ] \
    || fail "$SCOW_AI_DATASET_PATH/dataset_info.json not found: attach the dataset of Tutorial 5"
[ -f "$SCOW_AI_MODEL_PATH/config.json" ] \
    || fail "$SCOW_AI_MODEL_PATH/config.json not found: attach the model Qwen2.5-1.5B-Instruct"
if ! mkdir -p "$WORK_DIR/saves" 2>/dev/null || [ ! -w "$WORK_DIR/saves" ]; then
    fail "cannot write to $WORK_DIR/saves: WORK_DIR must be a folder this app may write to"
fi
here="$(cd "$(dirname "$0")" && pwd)"
# The datasets that sft.yaml (or a dataset=... argument) names, their entries in dataset_info.json and their
# records: checked by Tutorial 5's check_dataset.py, downloaded into this folder.
if [ -f "$here/check_dataset.py" ]; then
    python "$here/check_dataset.py" "$SCOW_AI_DATASET_PATH" "$here/sft.yaml" "$@" || exit 2
else
    echo "warning: $here/check_dataset.py not found, so the dataset is not checked before training:" \
        "download it from Tutorial 5 into this folder" >&2
fi

if [ -z "${NPROC_PER_NODE:-}" ]; then
    NPROC_PER_NODE="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
    [ "$NPROC_PER_NODE" -gt 0 ] || fail "nvidia-smi lists no GPU: create the app with 2 GPUs (单节点GPU卡数, per node)"
fi

output_dir="$WORK_DIR/saves/scow-identity-lora-2nodes"
echo "node $NODE_RANK of $NNODES, $NPROC_PER_NODE processes on this node, master $MASTER_ADDR:$MASTER_PORT"
echo "output (written by the master): $output_dir"
# Each node tokenizes the dataset into its own cache folder, so two nodes never write the same cache files.
export HF_DATASETS_CACHE="$WORK_DIR/datasets-cache/node-$NODE_RANK"
echo "datasets cache of this node: $HF_DATASETS_CACHE"
export FORCE_TORCHRUN=1 NNODES NODE_RANK NPROC_PER_NODE MASTER_ADDR MASTER_PORT
llamafactory-cli train "$here/sft.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    dataset_dir="$SCOW_AI_DATASET_PATH" \
    output_dir="$output_dir" \
    "$@"
