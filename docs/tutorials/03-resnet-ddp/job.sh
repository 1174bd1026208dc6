#!/bin/bash
# Batch job for SCOW tutorial 3: ResNet18 on CIFAR-10 with DDP, one process per GPU.
# Submit it from the folder that holds train_ddp.py and data/: `cbatch job.sh` on a
# CraneSched (鹤思) cluster, `sbatch job.sh` on a Slurm cluster. The directives are
# #SBATCH lines because both schedulers read them (Slurm ignores #CBATCH lines).
# Before submitting: replace <partition> with a GPU partition of your cluster
# (cinfo or sinfo lists the partitions) and check ENV_NAME below.
# Directive lines take no trailing comments: CraneSched reads 2 or 3 fields only.
#SBATCH -J resnet-ddp
#SBATCH -N 1
#SBATCH --ntasks-per-node 1
#SBATCH -c 8
#SBATCH --gres=gpu:2
#SBATCH -p <partition>
#SBATCH -t 00:30:00
#SBATCH -o resnet-ddp-%j.out

set -eo pipefail

# The conda environment from tutorial 0 ("torch"). Change the name if yours
# differs, and set CONDA_BASE if Miniconda is not installed in ~/miniconda3.
ENV_NAME=torch
CONDA_BASE="${CONDA_BASE:-$HOME/miniconda3}"
# shellcheck source=/dev/null
source "$CONDA_BASE/etc/profile.d/conda.sh"
conda activate "$ENV_NAME"

# The folder that holds cifar-10-batches-py/ (download_cifar10.py --root data
# puts it in ./data), and the number of epochs.
DATA_DIR=data
EPOCHS=5
# cuda: train on the job's GPUs (the job stops with an error when PyTorch sees
# none). Only to try the script without GPUs: TRAIN_DEVICE=cpu sbatch job.sh
TRAIN_DEVICE="${TRAIN_DEVICE:-cuda}"

# One process per GPU of this job. The scheduler lists the job's GPUs in
# CUDA_VISIBLE_DEVICES (Slurm also sets SLURM_GPUS_ON_NODE); without either,
# count the GPUs that nvidia-smi shows.
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    NPROC=$(tr ',' '\n' <<< "$CUDA_VISIBLE_DEVICES" | grep -c .)
elif [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
    NPROC=$SLURM_GPUS_ON_NODE
else
    NPROC=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
fi
if [ "${NPROC:-0}" -lt 1 ]; then
    NPROC=1
fi

echo "Job ${CRANE_JOB_ID:-${SLURM_JOB_ID:-?}} on $(hostname), started $(date)"
echo "Python: $(command -v python)"
echo "GPUs of this job: ${CUDA_VISIBLE_DEVICES:-not listed};" \
     "starting $NPROC process(es), one per GPU"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi is not available on this node"
echo "Device asked for: $TRAIN_DEVICE (TRAIN_DEVICE)"

# Stop at once, with a clear message, if the data is missing or PyTorch cannot
# use the GPUs (exit code 2).
python train_ddp.py --data "$DATA_DIR" --device "$TRAIN_DEVICE" --check-data
# --standalone: torchrun picks a free port, so two jobs on one node do not collide.
if ! torchrun --standalone --nproc_per_node="$NPROC" \
        train_ddp.py --data "$DATA_DIR" --epochs "$EPOCHS" --device "$TRAIN_DEVICE"; then
    echo "Error: training failed; the lines starting with 'Error' above say why." >&2
    exit 2
fi
echo "Finished $(date)"
