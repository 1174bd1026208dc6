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
# The dataset that sft.yaml (or a dataset=... argument) names must be in dataset_info.json, and its file there.
python - "$SCOW_AI_DATASET_PATH" "$(dirname "$0")/sft.yaml" "$@" <<'PY' || exit 2
import json, re, sys
from pathlib import Path
folder, config, args = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
names = re.search(r"^dataset:\s*(\S+)", config.read_text(), re.M).group(1)
names = ([a.split("=", 1)[1] for a in args if a.startswith("dataset=")] or [names])[-1]
info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
for name in names.split(","):
    if name not in info:
        sys.exit(f"error: dataset {name!r} is not in {folder}/dataset_info.json (it lists {', '.join(info)}): "
                 "attach Tutorial 5's dataset, or give its name with dataset=NAME")
    file = folder / info[name].get("file_name", "")
    if not file.is_file():
        sys.exit(f"error: {file} not found: dataset_info.json names it for {name!r}; register the whole folder")
PY

output_dir="$WORK_DIR/saves/scow-identity-lora"
echo "model:   $SCOW_AI_MODEL_PATH"
echo "dataset: $SCOW_AI_DATASET_PATH"
echo "output:  $output_dir"
llamafactory-cli train "$(dirname "$0")/sft.yaml" \
    model_name_or_path="$SCOW_AI_MODEL_PATH" \
    dataset_dir="$SCOW_AI_DATASET_PATH" \
    output_dir="$output_dir" \
    "$@"
