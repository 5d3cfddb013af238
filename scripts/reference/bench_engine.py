#!/usr/bin/env python3
"""`npm run bench:reference`, engine section: forward and greedy-generation tokens/s of itl's engine
and of transformers (attn_implementation="sdpa") on the same model folder, the same token ids, the
same thread count and the same compute dtype, in one run, with their ratios.

Per preset (`itl model init --preset P --seed 0`) and dtype (fp32, and bf16 on both sides):
- forward: batch × seq_len ids drawn by torch.randint(vocab, …) from a CPU generator seeded with
  --seed (itl's forward benchmark draws them with the same libtorch generator; the argmax of one row
  is compared to prove it), full logits, no grad, repeated for at least --min-seconds after a warm-up;
- generation: the same prompts (batch rows of prompt_length random ids) on both sides, greedy, no
  eos (every row makes new_tokens tokens), KV cache, after a 4-token warm-up; whole calls repeated
  for at least --min-seconds / 2; tokens/s counts new tokens.
- the matmul floor: the model's projections and output layer alone, at the shapes the measured work
  needs (forward: every position; generation: the prompt, then one row per sequence and step), timed
  here on the model's own weights (q/k/v and gate/up joined) with the fastest kernel torch has for
  them (F.linear; in bf16, oneDNN's pre-packed linear when it gives F.linear's bits). An engine that
  computes these products with these kernels cannot be faster, so floor tokens/s ÷ transformers
  tokens/s is the best ratio it could reach ("ceiling"); attention, norms and the rest come on top.
- libtorch's attention kernel alone at the forward's shapes (what both sides call there), added to
  the forward's matmul floor ("+attn").
- the fp32 matmul peak (1024², torch) of this run, and each side's forward rate as a share of it.
The new tokens of both sides are compared too (random weights make near-ties possible, so this is
reported, not required; bf16 rounds differently on the two sides).

Prints a table and one JSON object ({"bench_engine": [...]}). The issue's targets: forward ≥ 1.2×
transformers at bench-20m, generation ≥ 2× at bench-20m and ≥ 3× at tiny-smollm.

Usage: scripts/reference/bench_engine.py [--presets bench-20m,tiny-smollm,smollm-135m] [--threads 2]
       [--dtypes fp32,bf16] [--min-seconds 3] [--itl 'node bin/itl.js']
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
import torch.nn.functional as F
import transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ITL_SIDE = os.path.join(ROOT, "scripts", "reference", "bench_engine_itl.mjs")
# The issue's shapes: forward batch 16 × 128; generation batch 32, 16-token prompts, 64 new tokens.
SHAPES = {"forward_batch": 16, "seq_len": 128, "generate_batch": 32, "prompt_length": 16, "new_tokens": 64}
TARGETS = {"bench-20m": {"forward": 1.2, "generate": 2.0}, "tiny-smollm": {"generate": 3.0}}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def run(command, what):
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_engine: {what} failed (exit {out.returncode}): {out.stderr.strip()[-3000:]}")
    return out.stdout


def timed(fn, min_seconds):
    fn()  # warm-up
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            return seconds / calls


def matmul_peak_gflops(min_seconds):
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return 2 * 1024 ** 3 / timed(lambda: a @ b, min_seconds) / 1e9


def projection_weights(model):
    """The weights an engine multiplies by, per layer: q|k|v, o, gate|up, down (joined where one
    input feeds several), then the output layer."""
    layers = []
    for layer in model.model.layers:
        a, m = layer.self_attn, layer.mlp
        layers.append([torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]), a.o_proj.weight,
                       torch.cat([m.gate_proj.weight, m.up_proj.weight]), m.down_proj.weight])
    return layers, model.lm_head.weight


def fastest_linear(dtype):
    """F.linear, or for bf16 oneDNN's pre-packed linear where this torch has it and it gives
    F.linear's bits (faster at every batch size here; what itl's engine uses for bf16 on the CPU)."""
    ops = getattr(torch.ops, "mkldnn", None)
    if dtype != torch.bfloat16 or not hasattr(ops, "_linear_pointwise") or not hasattr(ops, "_reorder_linear_weight"):
        return lambda w: w, F.linear
    w, x = torch.randn(96, 80).to(dtype), torch.randn(7, 80).to(dtype)
    try:
        if not torch.equal(ops._linear_pointwise(x, ops._reorder_linear_weight(w, 32), None, "none", [], ""), F.linear(x, w)):
            return lambda w: w, F.linear
    except RuntimeError:
        return lambda w: w, F.linear
    return (lambda w: ops._reorder_linear_weight(w, 32)), (lambda x, w: ops._linear_pointwise(x, w, None, "none", [], ""))


def matmul_floor(model, dtype, forward_rows, prompt_rows, batch, new_tokens, min_seconds):
    """Seconds of the projections and output layer alone: (one forward, one generation)."""
    prepare, linear = fastest_linear(dtype)
    layers, head = projection_weights(model)
    with torch.inference_mode():  # (weight as the kernel takes it, its input width)
        layers = [[(prepare(w.detach()), w.shape[1]) for w in weights] for weights in layers]
        head = (prepare(head.detach()), head.shape[1])
    inputs = {}

    def x(rows, features):  # made once per shape, outside the timed calls' cost
        if (rows, features) not in inputs:
            inputs[rows, features] = torch.randn(rows, features).to(dtype)
        return inputs[rows, features]

    def run(rows, head_rows):
        for weights in layers:
            for w, width in weights:
                linear(x(rows, width), w)
        linear(x(head_rows, head[1]), head[0])

    with torch.inference_mode():
        forward = timed(lambda: run(forward_rows, forward_rows), min_seconds)
        prompt = timed(lambda: run(prompt_rows, batch), min_seconds / 2)  # the prompt, logits of its last positions
        step = timed(lambda: run(batch, batch), min_seconds / 2)          # one new token per sequence
    return forward, prompt + (new_tokens - 1) * step


def attention_seconds(config, dtype, batch, seq_len, min_seconds):
    """One forward's attention alone: libtorch's scaled_dot_product_attention (causal, grouped
    heads), the kernel transformers' sdpa and itl's forward both call, at every layer."""
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    q = torch.randn(batch, seq_len, heads, head_dim).to(dtype).transpose(1, 2)  # a view of the projection, as in a model
    k, v = (torch.randn(batch, kv_heads, seq_len, head_dim).to(dtype) for _ in range(2))
    with torch.inference_mode():
        layer = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=kv_heads != heads), min_seconds)
    return config.num_hidden_layers * layer


def transformers_side(folder, dtype, forward_ids, prompts, new_tokens, min_seconds):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[dtype], attn_implementation="sdpa").eval()
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
        generate_calls, started = 0, time.perf_counter()
        while True:  # whole generate calls, repeated for min_seconds / 2 (one call of a tiny model is ~0.1 s)
            out = model.generate(batch, attention_mask=torch.ones_like(batch), max_new_tokens=new_tokens, do_sample=False)
            generate_calls += 1
            generate_seconds = time.perf_counter() - started
            if generate_seconds >= min_seconds / 2:
                break
    new_ids = out[:, batch.shape[1]:]
    assert new_ids.shape[1] == new_tokens, f"transformers generated {new_ids.shape[1]} tokens, expected {new_tokens}"
    floor_forward, floor_generate = matmul_floor(model, DTYPES[dtype], forward_ids.numel(), batch.numel(), batch.shape[0],
                                                 new_tokens, min_seconds)
    attention = attention_seconds(model.config, DTYPES[dtype], forward_ids.shape[0], forward_ids.shape[1], min_seconds / 4)
    return {
        "floor_forward_tokens_per_s": forward_ids.numel() / floor_forward,
        "floor_forward_with_attention_tokens_per_s": forward_ids.numel() / (floor_forward + attention),
        "floor_generate_tokens_per_s": new_ids.numel() / floor_generate,
        "forward_tokens_per_s": calls * forward_ids.numel() / seconds,
        "forward_calls": calls,
        "generate_tokens_per_s": generate_calls * new_ids.numel() / generate_seconds,
        "generate_seconds": generate_seconds,
        "generate_calls": generate_calls,
        "new_ids": new_ids.tolist(),
        "row0_top1": row0_top1,
    }


def row_for(preset, dtype, ours, theirs, threads, peak):
    same_ids = sum(a == b for a, b in zip(ours["check_row_top1"], theirs["row0_top1"])) / len(theirs["row0_top1"])
    # fp32: both sides compute the same numbers, so every argmax agrees; bf16 rounds differently on
    # each side, but inputs that differ would agree on ~1/vocab of the positions, not most.
    if same_ids < (1.0 if dtype == "fp32" else 0.8):
        sys.exit(f"bench_engine: {preset} {dtype}: itl's forward ids are not transformers' (argmax of row 0 agrees at "
                 f"{same_ids:.0%} of positions); the two sides would time different inputs")
    agree = sum(a == b for x, y in zip(ours["new_ids"], theirs["new_ids"]) for a, b in zip(x, y))
    per_token = ours["forward_gflops"] * 1e9 / ours["forward_tokens_per_s"]  # FLOPs per token, itl's count
    return {
        "preset": preset,
        "dtype": dtype,
        "parameters": ours["parameters"],
        "threads": threads,
        **SHAPES,
        "itl_forward_tokens_per_s": round(ours["forward_tokens_per_s"], 1),
        "transformers_forward_tokens_per_s": round(theirs["forward_tokens_per_s"], 1),
        "forward_ratio": round(ours["forward_tokens_per_s"] / theirs["forward_tokens_per_s"], 3),
        "forward_ceiling_ratio": round(theirs["floor_forward_tokens_per_s"] / theirs["forward_tokens_per_s"], 3),
        # With libtorch's attention kernel added: the best an engine built on libtorch's kernels can do.
        "forward_ceiling_with_attention_ratio": round(theirs["floor_forward_with_attention_tokens_per_s"] / theirs["forward_tokens_per_s"], 3),
        "itl_generate_tokens_per_s": round(ours["generate_tokens_per_s"], 1),
        "transformers_generate_tokens_per_s": round(theirs["generate_tokens_per_s"], 1),
        "generate_ratio": round(ours["generate_tokens_per_s"] / theirs["generate_tokens_per_s"], 3),
        "generate_ceiling_ratio": round(theirs["floor_generate_tokens_per_s"] / theirs["generate_tokens_per_s"], 3),
        "matmul_floor_forward_tokens_per_s": round(theirs["floor_forward_tokens_per_s"], 1),
        "matmul_floor_generate_tokens_per_s": round(theirs["floor_generate_tokens_per_s"], 1),
        "greedy_tokens_equal": round(agree / (SHAPES["generate_batch"] * SHAPES["new_tokens"]), 4),
        "forward_top1_equal": round(same_ids, 4),
        "itl_forward_gflops": round(ours["forward_gflops"], 1),
        "fp32_matmul_peak_gflops": round(peak, 1),
        "itl_forward_share_of_fp32_peak": round(ours["forward_gflops"] / peak, 3),
        "transformers_forward_share_of_fp32_peak": round(per_token * theirs["forward_tokens_per_s"] / 1e9 / peak, 3),
        "targets": TARGETS.get(preset, {}),
    }


def print_table(results):
    print(f"{'preset':<12} {'dtype':<5} {'params':>7} {'fwd itl':>8} {'fwd HF':>8} {'ratio':>6} {'ceil':>6} {'+attn':>6} "
          f"{'gen itl':>8} {'gen HF':>8} {'ratio':>6} {'ceil':>6}  {'greedy =':>8}")
    for x in results:
        print(f"{x['preset']:<12} {x['dtype']:<5} {x['parameters'] / 1e6:>6.1f}M {x['itl_forward_tokens_per_s']:>8.0f} "
              f"{x['transformers_forward_tokens_per_s']:>8.0f} {x['forward_ratio']:>5.2f}× {x['forward_ceiling_ratio']:>5.2f}× "
              f"{x['forward_ceiling_with_attention_ratio']:>5.2f}× "
              f"{x['itl_generate_tokens_per_s']:>8.0f} {x['transformers_generate_tokens_per_s']:>8.0f} "
              f"{x['generate_ratio']:>5.2f}× {x['generate_ceiling_ratio']:>5.2f}×  {x['greedy_tokens_equal']:>8.3f}")
    print("ceil: the model's matmuls alone (same weights, shapes, dtype and fastest kernel) ÷ transformers — the "
          "best ratio an engine computing them could reach on this machine; +attn: with libtorch's attention kernel "
          "(what both sides call in a forward) added; norms, rope and the rest come on top")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="bench-20m,tiny-smollm,smollm-135m")
    parser.add_argument("--dtypes", default="fp32,bf16", help="compute dtypes, each on both sides")
    parser.add_argument("--threads", type=int, default=2, help="torch (and BLAS) threads on both sides")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="forward timing per side and preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--itl", default="node bin/itl.js")
    args = parser.parse_args()
    dtypes = args.dtypes.split(",")
    for dtype in dtypes:
        if dtype not in DTYPES:
            sys.exit(f"bench_engine: --dtypes: {dtype!r} is not one of {', '.join(DTYPES)}")
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops(args.min_seconds / 2)
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
            for dtype in dtypes:
                ours = json.loads(run(["node", ITL_SIDE, "--model", folder, "--threads", str(args.threads), "--dtype", dtype,
                                       "--batch", str(SHAPES["forward_batch"]), "--seq-len", str(SHAPES["seq_len"]),
                                       "--seed", str(args.seed), "--min-seconds", str(args.min_seconds), "--prompts", prompts_file,
                                       "--new-tokens", str(SHAPES["new_tokens"]), "--check-row", row_file], f"itl engine ({preset}, {dtype})"))
                theirs = transformers_side(folder, dtype, forward_ids, prompts, SHAPES["new_tokens"], args.min_seconds)
                results.append(row_for(preset, dtype, ours, theirs, args.threads, peak))
                print(f"bench_engine: {preset} {dtype} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    print(json.dumps({"bench_engine": results, "torch": torch.__version__, "transformers": transformers.__version__,
                      "threads": args.threads, "fp32_matmul_peak_gflops": round(peak, 1), "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
