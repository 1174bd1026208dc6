#!/bin/bash
# Batch job for SCOW tutorial 1 (house prices) on a CraneSched (鹤思) cluster.
# Submit it from the folder that holds train.py and train.csv:  cbatch job.sh
# Before submitting: replace <partition> with a GPU partition of your cluster
# (cinfo lists the partitions) and check ENV_NAME below.
# Directive lines take no trailing comments: CraneSched reads 2 or 3 fields only.
#CBATCH -J house-prices
#CBATCH -N 1
#CBATCH --ntasks-per-node 1
#CBATCH -c 4
#CBATCH --gres=gpu:1
#CBATCH -p <partition>
#CBATCH -t 00:30:00
#CBATCH -o house-prices-%j.out

set -eo pipefail

# The conda environment from tutorial 0 ("torch"). Change the name if yours differs, and set
# CONDA_BASE if Miniconda is not installed in ~/miniconda3.
ENV_NAME=torch
CONDA_BASE="${CONDA_BASE:-$HOME/miniconda3}"
# shellcheck source=/dev/null
source "$CONDA_BASE/etc/profile.d/conda.sh"
conda activate "$ENV_NAME"

echo "Job ${CRANE_JOB_ID:-${SLURM_JOB_ID:-?}} on $(hostname), started $(date)"
nvidia-smi || echo "nvidia-smi is not available on this node"
python train.py --data train.csv --plot learning_curve.png
echo "Finished $(date)"
