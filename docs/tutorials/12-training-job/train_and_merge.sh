#!/usr/bin/env bash
# Tutorial 12: the run command of a training job (作业 → 训练): train a LoRA adapter with sft.yaml on the attached
# model and dataset, merge it into the model with merge.yaml, and print where the merged model is.
# Usage: bash train_and_merge.sh [key=value ...]   (extra arguments override values of sft.yaml)
# Optional: TENSORBOARD_DIR=<folder> also writes TensorBoard logs there (needs tensorboard or tensorboardX). A
# relative folder is taken inside this script's folder (the mounted tutorial folder), and a tensorboardx-lib folder
# next to this script (pip install --target tensorboardx-lib tensorboardX) is put on PYTHONPATH.
set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 2
}

for var in SCOW_AI_MODEL_PATH SCOW_AI_DATASET_PATH WORK_DIR; do
    [ -n "${!var:-}" ] || fail "\$$var is not set: run this as the run command of a training job that has the model and the dataset attached"
done
[ -f "$SCOW_AI_DATASET_PATH/dataset_info.json" ] \
    || fail "$SCOW_AI_DATASET_PATH/dataset_info.json not found: attach the dataset of Tutorial 5"
[ -f "$SCOW_AI_MODEL_PATH/config.json" ] \
    || fail "$SCOW_AI_MODEL_PATH/config.json not found: attach the model Qwen2.5-1.5B-Instruct"
if ! mkdir -p "$WORK_DIR/saves" 2>/dev/null || [ ! -w "$WORK_DIR/saves" ]; then
    fail "cannot write to $WORK_DIR/saves: WORK_DIR must be a folder this job may write to"
fi
here="$(cd "$(dirname "$0")" && pwd)"
# A copy of all this job prints, in the mounted tutorial folder: readable from a login node or the file manager
# while the job runs and after it ends, whichever way the platform's release shows a job's output.
log="$here/logs/train-$(date +%Y%m%d-%H%M%S).log"
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

adapter_dir="$WORK_DIR/saves/scow-identity-lora"
merged_dir="$WORK_DIR/merged/scow-identity"
echo "WORK_DIR: $WORK_DIR"

tensorboard=()
if [ -n "${TENSORBOARD_DIR:-}" ]; then
    if [ -d "$here/tensorboardx-lib" ]; then
        export PYTHONPATH="$here/tensorboardx-lib${PYTHONPATH:+:$PYTHONPATH}"
    fi
    python -c "import tensorboard" 2>/dev/null || python -c "import tensorboardX" 2>/dev/null \
        || fail "TENSORBOARD_DIR is set but this image has neither tensorboard nor tensorboardX: install tensorboardX into $here/tensorboardx-lib (Tutorial 12, TensorBoard section) or leave TENSORBOARD_DIR unset"
    [[ "$TENSORBOARD_DIR" = /* ]] || TENSORBOARD_DIR="$here/$TENSORBOARD_DIR"
    if ! mkdir -p "$TENSORBOARD_DIR" 2>/dev/null || [ ! -w "$TENSORBOARD_DIR" ]; then
        fail "cannot write to $TENSORBOARD_DIR: give TENSORBOARD_DIR a folder inside the mounted tutorial folder"
    fi
    tensorboard=(report_to=tensorboard "logging_dir=$TENSORBOARD_DIR")
    echo "TensorBoard logs: $TENSORBOARD_DIR"
fi

echo "[1/2] training: $adapter_dir"
llamafactory-cli train "$here/sft.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    dataset_dir="$SCOW_AI_DATASET_PATH" \
    output_dir="$adapter_dir" \
    "${tensorboard[@]}" \
    "$@"

echo "[2/2] merging: $merged_dir"
llamafactory-cli export "$here/merge.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    adapter_name_or_path="$adapter_dir" \
    export_dir="$merged_dir"
echo "merged model: $merged_dir"
