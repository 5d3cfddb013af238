#!/usr/bin/env bash
# Wall time of evaluating a small grid's checkpoints after training (itl eval, one process per
# metric, every checkpoint loaded from disk) against evaluating inside training (itl train --eval,
# the model in memory): 2 runs (in-weight, in-tool) of a tiny SmolLM-shaped model, 32 facts,
# 16 steps, a save point every 8 steps, recall + KL (answers of up to 64 tokens) at each.
# The tokenizer folder is ITL_BENCH_TOKENIZER, else the SmolLM2 reference folder beside a checkout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOKENIZER=${ITL_BENCH_TOKENIZER:-$ROOT/../shared/reference/models/HuggingFaceTB__SmolLM2-135M-Instruct}
[[ -f $TOKENIZER/tokenizer.json ]] || { echo "no tokenizer.json in $TOKENIZER; set ITL_BENCH_TOKENIZER" >&2; exit 2; }
ITL="node $ROOT/bin/itl.js"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
$ITL model init --preset tiny-smollm --out tiny --seed 3 >/dev/null
cp "$TOKENIZER"/{tokenizer.json,tokenizer_config.json,special_tokens_map.json} tiny/
$ITL data build --people 20 --seed 1 --out data >/dev/null
KL=(--kl-max-new-tokens 64)
run_args() { echo "--run-name sft_Smol135M_facts=32-epochs=4-batch=8-gradAcc=1-LR=3e-3-loraR=0-loraA=0-$1 --data data --model tiny --save-steps 8"; }
now() { date +%s.%N; }
start=$(now)
for mode in weight tool; do $ITL train $(run_args $mode) --save-dir after >/dev/null 2>&1; done
$ITL eval recall --models-dir after --eval-dir eval-after >/dev/null 2>&1
$ITL eval kl --models-dir after --eval-dir eval-after "${KL[@]}" >/dev/null 2>&1
middle=$(now)
for mode in weight tool; do $ITL train $(run_args $mode) --save-dir inside --eval recall,kl --eval-dir eval-inside "${KL[@]}" >/dev/null 2>&1; done
end=$(now)
python3 -c "a = $middle - $start; b = $end - $middle; print(f'train, then itl eval: {a:.1f} s; itl train --eval: {b:.1f} s; saving {100 * (a - b) / a:.0f} %')"
