#!/bin/bash
# Batch job for SCOW tutorial 7: fine-tune BERT on GLUE MRPC, then judge one sentence pair.
# Submit it from the folder that holds train.py, predict.py and the folders bert-base-uncased/ and
# glue-mrpc/ that download.py saved: `cbatch job.sh` on a CraneSched (鹤思) cluster, `sbatch job.sh`
# on a Slurm cluster. The directives are #SBATCH lines because both schedulers read them (Slurm
# ignores #CBATCH lines).
# Before submitting: replace <partition> with a GPU partition of your cluster (cinfo or sinfo lists
# the partitions) and check ENV_NAME below.
# Directive lines take no trailing comments: CraneSched reads 2 or 3 fields only.
#SBATCH -J bert-mrpc
#SBATCH -N 1
#SBATCH --ntasks-per-node 1
#SBATCH -c 4
#SBATCH --gres=gpu:1
#SBATCH -p <partition>
#SBATCH -t 01:00:00
#SBATCH -o bert-mrpc-%j.out

set -eo pipefail

# The conda environment from tutorial 0 ("torch"). Change the name if yours differs, and set
# CONDA_BASE if Miniconda is not installed in ~/miniconda3.
ENV_NAME=torch
CONDA_BASE="${CONDA_BASE:-$HOME/miniconda3}"
# shellcheck source=/dev/null
source "$CONDA_BASE/etc/profile.d/conda.sh"
conda activate "$ENV_NAME"

# Compute nodes have no internet: read everything from disk, never try to download.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

echo "Job ${CRANE_JOB_ID:-${SLURM_JOB_ID:-?}} on $(hostname), started $(date)"
echo "Python: $(command -v python)"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi || echo "nvidia-smi failed: no GPU or no driver on this node (train.py will say which device it uses)"
else
    echo "nvidia-smi is not available on this node"
fi
python train.py --model bert-base-uncased --data glue-mrpc --out bert-mrpc --epochs 3
python predict.py --model bert-mrpc \
    "The company said its profits rose sharply last year." \
    "Last year the company's profits went up a lot, it said."
echo "Finished $(date)"
