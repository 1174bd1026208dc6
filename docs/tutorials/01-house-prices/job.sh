#!/bin/bash
# Batch job for SCOW tutorial 1 (house prices). Submit it from the folder that holds train.py and
# train.csv: `cbatch job.sh` on a CraneSched (鹤思) cluster, `sbatch job.sh` on a Slurm cluster.
# The directives are #SBATCH lines because both schedulers read them (Slurm ignores #CBATCH lines).
# Before submitting: replace <partition> with a GPU partition of your cluster (cinfo or sinfo lists
# the partitions) and check ENV_NAME below.
# Directive lines take no trailing comments: CraneSched reads 2 or 3 fields only.
#SBATCH -J house-prices
#SBATCH -N 1
#SBATCH --ntasks-per-node 1
#SBATCH -c 4
#SBATCH --gres=gpu:1
#SBATCH -p <partition>
#SBATCH -t 00:30:00
#SBATCH -o house-prices-%j.out

set -eo pipefail

# The conda environment from tutorial 0 ("torch"). Change the name if yours differs, and set
# CONDA_BASE if Miniconda is not installed in ~/miniconda3.
ENV_NAME=torch
CONDA_BASE="${CONDA_BASE:-$HOME/miniconda3}"
# shellcheck source=/dev/null
source "$CONDA_BASE/etc/profile.d/conda.sh"
conda activate "$ENV_NAME"

echo "Job ${CRANE_JOB_ID:-${SLURM_JOB_ID:-?}} on $(hostname), started $(date)"
echo "Python: $(command -v python)"
nvidia-smi || echo "nvidia-smi is not available on this node"
python train.py --data train.csv --plot learning_curve.png
echo "Finished $(date)"
