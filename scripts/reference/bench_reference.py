#!/usr/bin/env python3
"""`npm run bench:reference`: training throughput and peak memory of `itl train` against transformers'
Trainer on the same model folder, the same tokenised rows (itl's cache entries, read by
train_reference.py) and the same batch, accumulation, precision, schedule and thread counts, in one run.

The rows are real facts dialogues of very different lengths: in-weight (question, answer) and in-tool
(question, FIND request, tool reply, answer — 2-3 times longer) alternating, trained with the in-tool
label mask, which on an in-weight dialogue labels exactly what the completion-only mask does (its one
assistant turn). Tokens/s counts real (non-padding) tokens over each side's whole training run
(evaluation and checkpoints included on both sides, as the study's schedule has them); peak RSS is each
side's process maximum (wait4).

Configurations (--configs, comma-separated PRESET:PRECISION:BATCHxGRADACC), by default the issue's:
  bench-20m:fp32:16x1    target itl >= 1.5x transformers
  bench-20m:fp32:64x2    the study's batch 64 x gradAcc 2; target >= 1.5x
  bench-20m:bf16:16x1    itl --precision bf16 against the model loaded in bf16 with Trainer(bf16=True); target >= 2x
  bench-20m:bf16-mixed:16x1  itl --precision bf16-mixed (fp32 master weights and AdamW state) against the model
                         loaded in fp32 with Trainer(bf16=True): autocast, fp32 weights and AdamW state; target >= 2x
  tiny-smollm:fp32:16x1  target >= 4x (per-op overhead dominates)
Prints a table and one JSON object ({"bench_reference": [...]}).

Usage: scripts/reference/bench_reference.py [--configs ...] [--facts 1024] [--epochs 1] [--threads 2] [--lora]
       [--itl 'node bin/itl.js'] [--itl-args '--packing off'] [--keep DIR]
Needs the reference environment (scripts/reference/setup.sh) and a built itl.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE_MODELS = os.path.join(ROOT, "..", "shared", "reference", "models")
TOKENIZER = os.path.join(REFERENCE_MODELS, "HuggingFaceTB__SmolLM2-135M-Instruct")
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
REFERENCE_TRAINER = os.path.join(ROOT, "scripts", "reference", "train_reference.py")
# The study's label for a model only names the run; --model gives the folder actually trained.
LABELS = {"bench-20m": "Smol135M", "tiny-smollm": "Smol135M"}
DEFAULT_CONFIGS = "bench-20m:fp32:16x1,bench-20m:fp32:64x2,bench-20m:bf16:16x1,bench-20m:bf16-mixed:16x1,tiny-smollm:fp32:16x1"
EVAL_ROWS = 30


def target(preset, precision):
    """The issue's speed target for a configuration (itl tokens/s ÷ transformers')."""
    if preset == "tiny-smollm":
        return 4.0
    return 2.0 if precision.startswith("bf16") else 1.5


def parse_configs(text):
    configs = []
    for item in text.split(","):
        try:
            preset, precision, shape = item.split(":")
            batch, grad_acc = (int(x) for x in shape.split("x"))
        except ValueError:
            sys.exit(f"bench_reference: --configs item {item!r} is not PRESET:PRECISION:BATCHxGRADACC")
        if preset not in LABELS:
            sys.exit(f"bench_reference: unknown preset {preset!r}; expected one of {', '.join(LABELS)}")
        if precision not in ("fp32", "bf16", "bf16-mixed"):
            sys.exit(f"bench_reference: precision {precision!r} in {item!r}: expected fp32, bf16 or bf16-mixed")
        if batch < 1 or grad_acc < 1:
            sys.exit(f"bench_reference: batch and gradAcc in {item!r} must be positive")
        configs.append({"preset": preset, "precision": precision, "batch": batch, "grad_acc": grad_acc})
    return configs


def copy_tokenizer(model_dir):
    """SmolLM's tokenizer files into the model folder. bench-20m has a vocabulary of 8192: its
    tokenizer is SmolLM's cut to ids < 8192 (SmolLM's BPE ids follow merge order, so the first 8192
    ids with the merges that stay among them are a complete byte-level BPE; the special tokens are
    ids 0-16). The dialogues then tokenise a little longer, as with any smaller vocabulary."""
    vocab_size = json.load(open(os.path.join(model_dir, "config.json"), encoding="utf-8"))["vocab_size"]
    for name in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(TOKENIZER, name), os.path.join(model_dir, name))
    tokenizer = json.load(open(os.path.join(TOKENIZER, "tokenizer.json"), encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    if vocab_size >= len(vocab):
        return
    kept = {token: i for token, i in vocab.items() if i < vocab_size}
    merges = []
    for merge in tokenizer["model"]["merges"]:
        a, b = merge.split(" ") if isinstance(merge, str) else merge
        if a in kept and b in kept and a + b in kept:
            merges.append(merge)
    tokenizer["model"]["vocab"] = kept
    tokenizer["model"]["merges"] = merges
    if any(t["id"] >= vocab_size for t in tokenizer["added_tokens"]):
        sys.exit(f"bench_reference: the tokenizer's added tokens do not fit a vocabulary of {vocab_size}")
    with open(os.path.join(model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)


def run(command, what):
    """Runs a command to completion; returns its stdout and its peak RSS in MB (wait4's ru_maxrss)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        sys.exit(f"bench_reference: {what} failed (exit {process.returncode}): {stderr.strip()[-3000:]}")
    return stdout, usage.ru_maxrss / 1024  # Linux reports kilobytes


def last_json(text):
    """The JSON object a command prints: itl prints one indented object, train_reference.py one line."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def write_mixed_dialogues(data, rows, path):
    """Rows 0..rows-1 of the facts dataset's preview, alternating the in-weight and the in-tool dialogue."""
    lines = open(os.path.join(data, "preview.jsonl"), encoding="utf-8").read().splitlines()
    if len(lines) < rows:
        sys.exit(f"bench_reference: preview.jsonl has {len(lines)} rows, {rows} needed")
    with open(path, "w", encoding="utf-8") as f:
        for k, line in enumerate(lines[:rows]):
            row = json.loads(line)
            f.write(json.dumps({"messages": row["qa"] if k % 2 == 0 else row["qatool"]}) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated PRESET:PRECISION:BATCHxGRADACC")
    parser.add_argument("--facts", type=int, default=1024, help="training rows")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", default="1e-3")
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads on both sides")
    parser.add_argument("--lora", action="store_true", help="LoRA r=8 alpha=16 instead of full fine-tuning")
    parser.add_argument("--itl", default="node bin/itl.js")
    parser.add_argument("--itl-args", default="", help="extra `itl train` arguments (e.g. '--packing off' for the padded path)")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    configs = parse_configs(args.configs)
    if args.facts < 1:
        sys.exit("bench_reference: --facts must be positive")
    if args.keep and os.path.exists(args.keep):
        sys.exit(f"bench_reference: {args.keep} exists; name a new folder")
    work = args.keep or tempfile.mkdtemp(prefix="itl-bench-reference-")
    os.makedirs(work, exist_ok=True)
    itl = shlex.split(args.itl)
    data = os.path.join(work, "facts")
    rows = args.facts + EVAL_ROWS  # the rows after the training rows are the eval set
    people = (rows + 3) // 4  # 4 rows a person
    run(itl + ["data", "build", "--people", str(people), "--seed", "1", "--preview-rows", str(rows), "--out", data], "itl data build")
    dialogues = os.path.join(work, "mixed.jsonl")
    write_mixed_dialogues(data, rows, dialogues)
    r, a = (8, 16) if args.lora else (0, 0)
    models = {}
    results = []
    for index, c in enumerate(configs):
        preset, precision = c["preset"], c["precision"]
        if preset not in models:
            models[preset] = os.path.join(work, preset)
            run(itl + ["model", "init", "--preset", preset, "--out", models[preset], "--seed", "1"], "itl model init")
            copy_tokenizer(models[preset])
        model = models[preset]
        name = f"{preset} {precision} {c['batch']}x{c['grad_acc']}"
        run_name = (f"sft_{LABELS[preset]}_facts={args.facts}-epochs={args.epochs}-batch={c['batch']}-gradAcc={c['grad_acc']}"
                    f"-LR={args.lr}-loraR={r}-loraA={a}-tool")
        print(f"bench_reference: {name}: itl", file=sys.stderr, flush=True)
        out, itl_rss = run(itl + ["train", "--run-name", run_name, "--data", dialogues, "--save-dir", os.path.join(work, f"itl-{index}"),
                                  "--model", model, "--precision", precision, "--torch-threads", str(args.threads),
                                  "--blas-threads", str(args.threads), "--json"] + shlex.split(args.itl_args), f"itl train ({name})")
        ours = last_json(out)
        tokenized = json.load(open(os.path.join(ours["run_dir"], "run_config.json"), encoding="utf-8"))["tokenized"]
        reference = [sys.executable, REFERENCE_TRAINER, "--model", model, "--train", tokenized["train"], "--eval", tokenized["eval"],
                     "--out", os.path.join(work, f"hf-{index}"), "--epochs", str(args.epochs), "--batch", str(c["batch"]),
                     "--grad-acc", str(c["grad_acc"]), "--lr", args.lr, "--threads", str(args.threads), "--precision", precision, "--json"]
        if args.lora:
            reference += ["--lora-r", str(r), "--lora-alpha", str(a)]
        print(f"bench_reference: {name}: transformers", file=sys.stderr, flush=True)
        out, hf_rss = run(reference, f"train_reference.py ({name})")
        theirs = last_json(out)
        results.append({
            "preset": preset,
            "precision": precision,
            "mode": "lora" if args.lora else "full",
            "rows": args.facts,
            "dialogues": "in-weight and in-tool alternating",
            "batch": c["batch"],
            "grad_acc": c["grad_acc"],
            "epochs": args.epochs,
            "threads": args.threads,
            "steps": ours["global_step"],
            "itl_tokens_per_s": ours["train_tokens_per_s"],
            "transformers_tokens_per_s": theirs["train_tokens_per_s"],
            "ratio": ours["train_tokens_per_s"] / theirs["train_tokens_per_s"],
            "target": target(preset, precision),
            "itl_peak_rss_mb": itl_rss,
            "transformers_peak_rss_mb": hf_rss,
            "itl_runtime_s": ours["train_runtime_s"],
            "transformers_runtime_s": theirs["train_runtime_s"],
            "transformers_tokens": theirs["train_tokens"],
            "itl_padding_fraction": ours["padding_fraction"],
            "transformers_padding_fraction": theirs["padding_fraction"],
            "itl_args": args.itl_args,
            "versions": theirs["versions"],
        })
    print(f"{'configuration':<26} {'steps':>5} {'itl tok/s':>10} {'HF tok/s':>10} {'ratio':>6} {'target':>6}  "
          f"{'itl MB':>7} {'HF MB':>7} {'itl s':>7} {'HF s':>7} {'itl pad':>7} {'HF pad':>7}")
    for x in results:
        name = f"{x['preset']} {x['precision']} {x['batch']}x{x['grad_acc']}{' lora' if args.lora else ''}"
        print(f"{name:<26} {x['steps']:>5} {x['itl_tokens_per_s']:>10.0f} {x['transformers_tokens_per_s']:>10.0f} "
              f"{x['ratio']:>5.2f}× {x['target']:>5.1f}×  {x['itl_peak_rss_mb']:>7.0f} {x['transformers_peak_rss_mb']:>7.0f} "
              f"{x['itl_runtime_s']:>7.1f} {x['transformers_runtime_s']:>7.1f} "
              f"{x['itl_padding_fraction']:>7.3f} {x['transformers_padding_fraction']:>7.3f}")
    print(json.dumps({"bench_reference": results}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
