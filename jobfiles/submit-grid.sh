#!/bin/bash
# Submits the study's whole grid as five SLURM jobs chained by dependencies, from the repository
# root, and prints their ids:
#   data ──▶ train array (36 tasks) ──aftercorr──▶ eval array (task I after train task I)
#                                   ──afterok────▶ base-model HellaSwag
#   eval array + base ──afterok──▶ analysis
# Configured by the environment, which sbatch passes on to the jobs: DATA, RUNS, EVAL, RESULTS,
# MODELS (model folders as ORG/NAME; else $ITL_MODELS or the Hugging Face cache), HELLASWAG
# (required), BATCH_SIZE. Extra arguments go to every sbatch (e.g. --account=… --partition=…).
#   HELLASWAG=/data/hellaswag_val.jsonl MODELS=/models bash jobfiles/submit-grid.sh --account=myproject
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${HELLASWAG:?set HELLASWAG to the HellaSwag validation jsonl (or a datasets on-disk folder)}"
data=$(sbatch --parsable "$@" jobfiles/grid-data.sbatch)
train=$(sbatch --parsable "$@" --dependency="afterok:$data" jobfiles/grid-train.sbatch)
evals=$(sbatch --parsable "$@" --dependency="aftercorr:$train" jobfiles/grid-eval.sbatch)
base=$(sbatch --parsable "$@" --dependency="afterok:$train" jobfiles/grid-eval-base.sbatch)
analyze=$(sbatch --parsable "$@" --dependency="afterok:$evals:$base" jobfiles/grid-analyze.sbatch)
echo "data $data, train $train, eval $evals, base $base, analyze $analyze"
