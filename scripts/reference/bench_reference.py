#!/usr/bin/env python3
"""`npm run bench:reference`: training throughput of `itl train` against transformers' Trainer on the
same model folder, the same tokenised rows (itl's cache entries, read by train_reference.py) and the
same batch, schedule and thread counts, in one run. Real facts dialogues (variable lengths); tokens/s
counts real (non-padding) tokens over each side's whole training run (evaluation and checkpoints
included on both sides, as the study's schedule has them).

Prints a table and one JSON object: per preset both tokens/s and itl ÷ transformers.
The issue's targets: ≥ 1.5× at bench-20m, ≥ 2× at tiny-smollm (where per-op overhead dominates).

Usage: scripts/reference/bench_reference.py [--presets bench-20m,tiny-smollm] [--facts 512] [--batch 16]
       [--grad-acc 1] [--epochs 1] [--threads 2] [--lora] [--itl 'node bin/itl.js'] [--keep DIR]
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
TARGETS = {"bench-20m": 1.5, "tiny-smollm": 2.0}


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
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_reference: {what} failed (exit {out.returncode}): {out.stderr.strip()[-3000:]}")
    return out.stdout


def last_json(text):
    """The JSON object a command prints: itl prints one indented object, train_reference.py one line."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="bench-20m,tiny-smollm")
    parser.add_argument("--facts", type=int, default=512, help="training rows")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--grad-acc", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", default="1e-3")
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads on both sides")
    parser.add_argument("--lora", action="store_true", help="LoRA r=8 alpha=16 instead of full fine-tuning")
    parser.add_argument("--itl", default="node bin/itl.js")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    for preset in args.presets.split(","):
        if preset not in LABELS:
            sys.exit(f"bench_reference: unknown preset {preset!r}; expected some of {', '.join(LABELS)}")
    if args.keep and os.path.exists(args.keep):
        sys.exit(f"bench_reference: {args.keep} exists; name a new folder")
    work = args.keep or tempfile.mkdtemp(prefix="itl-bench-reference-")
    os.makedirs(work, exist_ok=True)
    itl = shlex.split(args.itl)
    data = os.path.join(work, "facts")
    people = (args.facts + 30 + 3) // 4  # 4 rows a person; the 30 rows after the training rows are the eval set
    run(itl + ["data", "build", "--people", str(people), "--seed", "1", "--out", data], "itl data build")
    r, a = (8, 16) if args.lora else (0, 0)
    results = []
    for preset in args.presets.split(","):
        model = os.path.join(work, preset)
        run(itl + ["model", "init", "--preset", preset, "--out", model, "--seed", "1"], "itl model init")
        copy_tokenizer(model)
        run_name = (f"sft_{LABELS[preset]}_facts={args.facts}-epochs={args.epochs}-batch={args.batch}-gradAcc={args.grad_acc}"
                    f"-LR={args.lr}-loraR={r}-loraA={a}-weight")
        ours = last_json(run(itl + ["train", "--run-name", run_name, "--data", data, "--save-dir", os.path.join(work, f"itl-{preset}"),
                                    "--model", model, "--torch-threads", str(args.threads), "--blas-threads", str(args.threads),
                                    "--json"], f"itl train ({preset})"))
        tokenized = json.load(open(os.path.join(ours["run_dir"], "run_config.json"), encoding="utf-8"))["tokenized"]
        reference = [sys.executable, REFERENCE_TRAINER, "--model", model, "--train", tokenized["train"], "--eval", tokenized["eval"],
                     "--out", os.path.join(work, f"hf-{preset}"), "--epochs", str(args.epochs), "--batch", str(args.batch),
                     "--grad-acc", str(args.grad_acc), "--lr", args.lr, "--threads", str(args.threads), "--json"]
        if args.lora:
            reference += ["--lora-r", str(r), "--lora-alpha", str(a)]
        theirs = last_json(run(reference, f"train_reference.py ({preset})"))
        results.append({
            "preset": preset,
            "mode": "lora" if args.lora else "full",
            "rows": args.facts,
            "batch": args.batch,
            "grad_acc": args.grad_acc,
            "epochs": args.epochs,
            "threads": args.threads,
            "steps": ours["global_step"],
            "itl_tokens_per_s": ours["train_tokens_per_s"],
            "transformers_tokens_per_s": theirs["train_tokens_per_s"],
            "ratio": ours["train_tokens_per_s"] / theirs["train_tokens_per_s"],
            "target": TARGETS[preset],
            "itl_runtime_s": ours["train_runtime_s"],
            "transformers_runtime_s": theirs["train_runtime_s"],
            "transformers_tokens": theirs["train_tokens"],
            "itl_padding_fraction": ours["padding_fraction"],
            "transformers_padding_fraction": theirs["padding_fraction"],
            "versions": theirs["versions"],
        })
    print(f"{'preset':<12} {'mode':<5} {'steps':>5} {'itl tok/s':>10} {'HF tok/s':>10} {'ratio':>6} {'target':>6}  "
          f"{'itl s':>7} {'HF s':>7} {'itl pad':>7} {'HF pad':>7}")
    for x in results:
        print(f"{x['preset']:<12} {x['mode']:<5} {x['steps']:>5} {x['itl_tokens_per_s']:>10.0f} {x['transformers_tokens_per_s']:>10.0f} "
              f"{x['ratio']:>5.2f}× {x['target']:>5.1f}×  {x['itl_runtime_s']:>7.1f} {x['transformers_runtime_s']:>7.1f} "
              f"{x['itl_padding_fraction']:>7.3f} {x['transformers_padding_fraction']:>7.3f}")
    print(json.dumps({"bench_reference": results}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
