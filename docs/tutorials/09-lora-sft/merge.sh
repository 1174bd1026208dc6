#!/usr/bin/env bash
# Tutorial 9: merge the adapter that train.sh wrote into the base model (merge.yaml).
# Usage: bash merge.sh [key=value ...]   (extra arguments override values of merge.yaml)
set -euo pipefail

for var in SCOW_AI_MODEL_PATH WORK_DIR; do
    if [ -z "${!var:-}" ]; then
        echo "error: \$$var is not set: run this in the SCOW AI app where you ran train.sh" >&2
        exit 2
    fi
done
if [ ! -f "$SCOW_AI_MODEL_PATH/config.json" ]; then
    echo "error: $SCOW_AI_MODEL_PATH/config.json not found: attach the model Qwen2.5-1.5B-Instruct" >&2
    exit 2
fi
if ! mkdir -p "$WORK_DIR/merged" 2>/dev/null || [ ! -w "$WORK_DIR/merged" ]; then
    echo "error: cannot write to $WORK_DIR/merged: WORK_DIR must be a folder this app may write to" >&2
    exit 2
fi
adapter_dir="$WORK_DIR/saves/scow-identity-lora"
if [ ! -f "$adapter_dir/adapter_config.json" ]; then
    echo "error: no adapter in $adapter_dir: run train.sh first" >&2
    exit 2
fi

export_dir="$WORK_DIR/merged/scow-identity"
llamafactory-cli export "$(dirname "$0")/merge.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    adapter_name_or_path="$adapter_dir" \
    export_dir="$export_dir" \
    "$@"
echo "merged model: $export_dir"
