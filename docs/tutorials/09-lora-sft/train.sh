#!/usr/bin/env bash
# Tutorial 9: train the LoRA adapter with sft.yaml on the model and dataset attached to the app.
# Usage: bash train.sh [key=value ...]   (extra arguments override values of sft.yaml, e.g. num_train_epochs=10)
set -euo pipefail

for var in SCOW_AI_MODEL_PATH SCOW_AI_DATASET_PATH WORK_DIR; do
    if [ -z "${!var:-}" ]; then
        echo "error: \$$var is not set: run this in a SCOW AI app that has a model and a dataset attached" >&2
        exit 2
    fi
done
if [ ! -f "$SCOW_AI_DATASET_PATH/dataset_info.json" ]; then
    echo "error: $SCOW_AI_DATASET_PATH/dataset_info.json not found: attach the dataset of Tutorial 5" >&2
    exit 2
fi
if [ ! -f "$SCOW_AI_MODEL_PATH/config.json" ]; then
    echo "error: $SCOW_AI_MODEL_PATH/config.json not found: attach the model Qwen2.5-1.5B-Instruct" >&2
    exit 2
fi
if ! mkdir -p "$WORK_DIR/saves" 2>/dev/null || [ ! -w "$WORK_DIR/saves" ]; then
    echo "error: cannot write to $WORK_DIR/saves: WORK_DIR must be a folder this app may write to" >&2
    exit 2
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

output_dir="$WORK_DIR/saves/scow-identity-lora"
echo "model:   $SCOW_AI_MODEL_PATH"
echo "dataset: $SCOW_AI_DATASET_PATH"
echo "output:  $output_dir"
llamafactory-cli train "$here/sft.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    dataset_dir="$SCOW_AI_DATASET_PATH" \
    output_dir="$output_dir" \
    "$@"
