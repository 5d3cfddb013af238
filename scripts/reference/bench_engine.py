#!/usr/bin/env python3
"""`npm run bench:reference`, engine section: forward and greedy-generation tokens/s of itl's engine
and of transformers (attn_implementation="sdpa") on the same model folder, the same token ids and
the same thread count, in one run, with their ratios.

Per preset (`itl model init --preset P --seed 0`):
- forward: batch × seq_len ids drawn by torch.randint(vocab, …) from a CPU generator seeded with
  --seed (itl's forward benchmark draws them with the same libtorch generator; the argmax of one row
  is compared to prove it), full logits, no grad, repeated for at least --min-seconds after a warm-up;
- generation: the same prompts (batch rows of prompt_length random ids) on both sides, greedy, no
  eos (every row makes new_tokens tokens), KV cache, after a 4-token warm-up; tokens/s counts new tokens.
The new tokens of both sides are compared too (random weights make near-ties possible, so this is
reported, not required).

Prints a table and one JSON object ({"bench_engine": [...]}). The issue's targets: forward ≥ 1.2×
transformers at bench-20m, generation ≥ 2× at bench-20m and ≥ 3× at tiny-smollm.

Usage: scripts/reference/bench_engine.py [--presets bench-20m,tiny-smollm,smollm-135m] [--threads 2]
       [--min-seconds 3] [--itl 'node bin/itl.js']
Needs the reference environment (scripts/reference/setup.sh) and a built itl (npm run build).
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ITL_SIDE = os.path.join(ROOT, "scripts", "reference", "bench_engine_itl.mjs")
# The issue's shapes: forward batch 16 × 128; generation batch 32, 16-token prompts, 64 new tokens.
SHAPES = {"forward_batch": 16, "seq_len": 128, "generate_batch": 32, "prompt_length": 16, "new_tokens": 64}
TARGETS = {"bench-20m": {"forward": 1.2, "generate": 2.0}, "tiny-smollm": {"generate": 3.0}}


def run(command, what):
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_engine: {what} failed (exit {out.returncode}): {out.stderr.strip()[-3000:]}")
    return out.stdout


def transformers_side(folder, forward_ids, prompts, new_tokens, min_seconds):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa").eval()
    # No eos: every row decodes new_tokens tokens, as itl's side (eosIds []) does.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    with torch.inference_mode():
        model(forward_ids).logits[0, 0, 0].item()  # warm-up
        calls, started = 0, time.perf_counter()
        while True:
            logits = model(forward_ids).logits
            logits[0, 0, 0].item()
            calls += 1
            seconds = time.perf_counter() - started
            if seconds >= min_seconds:
                break
        row0_top1 = logits[0].argmax(-1).tolist()
        batch = torch.tensor(prompts)
        model.generate(batch[:2], attention_mask=torch.ones_like(batch[:2]), max_new_tokens=4, do_sample=False)  # warm-up
        started = time.perf_counter()
        out = model.generate(batch, attention_mask=torch.ones_like(batch), max_new_tokens=new_tokens, do_sample=False)
        generate_seconds = time.perf_counter() - started
    new_ids = out[:, batch.shape[1]:]
    assert new_ids.shape[1] == new_tokens, f"transformers generated {new_ids.shape[1]} tokens, expected {new_tokens}"
    return {
        "forward_tokens_per_s": calls * forward_ids.numel() / seconds,
        "forward_calls": calls,
        "generate_tokens_per_s": new_ids.numel() / generate_seconds,
        "generate_seconds": generate_seconds,
        "new_ids": new_ids.tolist(),
        "row0_top1": row0_top1,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="bench-20m,tiny-smollm,smollm-135m")
    parser.add_argument("--threads", type=int, default=2, help="torch (and BLAS) threads on both sides")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="forward timing per side and preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--itl", default="node bin/itl.js")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="itl-bench-engine-")
    results = []
    try:
        for preset in args.presets.split(","):
            folder = os.path.join(work, preset)
            run(shlex.split(args.itl) + ["model", "init", "--preset", preset, "--out", folder, "--seed", "0"], f"itl model init {preset}")
            vocab = json.load(open(os.path.join(folder, "config.json"), encoding="utf-8"))["vocab_size"]
            generator = torch.Generator().manual_seed(args.seed)
            forward_ids = torch.randint(vocab, (SHAPES["forward_batch"], SHAPES["seq_len"]), generator=generator)
            prompt_generator = torch.Generator().manual_seed(args.seed + 1)
            prompts = torch.randint(3, vocab, (SHAPES["generate_batch"], SHAPES["prompt_length"]), generator=prompt_generator).tolist()
            prompts_file, row_file = os.path.join(work, f"{preset}-prompts.json"), os.path.join(work, f"{preset}-row0.json")
            json.dump(prompts, open(prompts_file, "w"))
            json.dump(forward_ids[0].tolist(), open(row_file, "w"))
            ours = json.loads(run(["node", ITL_SIDE, "--model", folder, "--threads", str(args.threads),
                                   "--batch", str(SHAPES["forward_batch"]), "--seq-len", str(SHAPES["seq_len"]),
                                   "--seed", str(args.seed), "--min-seconds", str(args.min_seconds), "--prompts", prompts_file,
                                   "--new-tokens", str(SHAPES["new_tokens"]), "--check-row", row_file], f"itl engine ({preset})"))
            theirs = transformers_side(folder, forward_ids, prompts, SHAPES["new_tokens"], args.min_seconds)
            same_ids = ours["check_row_top1"] == theirs["row0_top1"]
            if not same_ids:
                sys.exit(f"bench_engine: {preset}: itl's forward ids are not transformers' (argmax of row 0 differs); "
                         "the two sides would time different inputs")
            agree = sum(a == b for x, y in zip(ours["new_ids"], theirs["new_ids"]) for a, b in zip(x, y))
            results.append({
                "preset": preset,
                "parameters": ours["parameters"],
                "threads": args.threads,
                **SHAPES,
                "itl_forward_tokens_per_s": round(ours["forward_tokens_per_s"], 1),
                "transformers_forward_tokens_per_s": round(theirs["forward_tokens_per_s"], 1),
                "forward_ratio": round(ours["forward_tokens_per_s"] / theirs["forward_tokens_per_s"], 3),
                "itl_generate_tokens_per_s": round(ours["generate_tokens_per_s"], 1),
                "transformers_generate_tokens_per_s": round(theirs["generate_tokens_per_s"], 1),
                "generate_ratio": round(ours["generate_tokens_per_s"] / theirs["generate_tokens_per_s"], 3),
                "greedy_tokens_equal": round(agree / (SHAPES["generate_batch"] * SHAPES["new_tokens"]), 4),
                "itl_forward_gflops": round(ours["forward_gflops"], 1),
                "targets": TARGETS.get(preset, {}),
            })
            print(f"bench_engine: {preset} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'preset':<12} {'params':>7} {'fwd itl':>9} {'fwd HF':>9} {'ratio':>6}  {'gen itl':>8} {'gen HF':>8} {'ratio':>6}  {'greedy =':>8}")
    for x in results:
        print(f"{x['preset']:<12} {x['parameters'] / 1e6:>6.1f}M {x['itl_forward_tokens_per_s']:>9.0f} {x['transformers_forward_tokens_per_s']:>9.0f} "
              f"{x['forward_ratio']:>5.2f}×  {x['itl_generate_tokens_per_s']:>8.0f} {x['transformers_generate_tokens_per_s']:>8.0f} "
              f"{x['generate_ratio']:>5.2f}×  {x['greedy_tokens_equal']:>8.3f}")
    print(json.dumps({"bench_engine": results, "torch": torch.__version__, "transformers": transformers.__version__,
                      "threads": args.threads, "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
