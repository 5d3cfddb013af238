#!/usr/bin/env python3
"""The study's supervised fine-tuning on transformers' Trainer (+ PEFT), on CPU in fp32 (or bf16): the
reference that `itl train` is compared against step for step (parity.py) and timed against (bench_reference.py).

It trains on a tokenised-dataset cache entry exactly as itl wrote it (lib/tokenize/TokenizedDatasetCache.ts:
ids.i32, labels.i32 with -100 where masked, offsets.i32, meta.json; little-endian int32), so both sides
see identical token ids and labels. Labels are unshifted; LlamaForCausalLM shifts them.

Trainer as the study configured it (docs/design.md, "Training schedule"), by default:
  AdamW (torch) β 0.9/0.999, ε 1e-8, weight decay 0; constant_with_warmup with warm-up ceil(0.05 × total
  steps) (transformers 5 takes the ratio as a warmup_steps < 1); max_grad_norm 1.0; seed 42; eval every
  max(1, steps_per_epoch // 2) steps, checkpoint every 2 · steps_per_epoch steps and at the last step.
  --lr-scheduler (constant_with_warmup, linear, cosine), --warmup-ratio, --weight-decay, --adam-beta1,
  --adam-beta2 and --adam-epsilon change those settings, under the names `itl train` gives them.
  Batches are right-padded with the attention mask and -100 labels at the pads; which id fills the pads
  does not matter (masked from attention and loss).

What transformers 5.18's Trainer logs, read from its source (trainer.py, _inner_training_loop and
_maybe_log_save_evaluate) and relied on here:
  - loss: the model's loss per micro-batch is Σ token cross-entropy ÷ num_items_in_batch, where
    num_items_in_batch counts labels[..., 1:] != -100 over the whole accumulated batch; the logged loss
    is the sum of the step's micro-batch losses ÷ steps since the last log, unrounded (4.x rounded to 4
    decimals). With logging_steps 1 that is exactly the step's loss.
  - grad_norm: the value clip_grad_norm_ returns, i.e. the global L2 norm before clipping.
  - learning_rate: read after optimizer.step() and before lr_scheduler.step(), i.e. the rate this
    step's update used (0 for the first step under warm-up).
This script therefore records every step from the Trainer's own log_history (it forces logging_steps 1;
the study's 5 only averaged lines) and does not recompute anything.

Writes into --out: the Trainer's checkpoint-<step>/ folders (model.safetensors, or a PEFT adapter),
metrics.jsonl in itl's format ({"step","epoch","loss","learning_rate","grad_norm"} and
{"step","epoch","eval_loss"} lines) and summary.json; --json prints the summary.

  train_reference.py --model DIR --train ENTRY --eval ENTRY --out DIR --epochs 4 --batch 8 --grad-acc 2 \
      --lr 1e-3 [--lora-r 8 --lora-alpha 16 --lora-dropout 0 [--init-adapter DIR]] [--threads N] [--precision bf16] [--json]

--precision bf16 loads the model in bf16 and sets Trainer(bf16=True), as the study trained on GPUs (itl's
--precision bf16: bf16 weights, gradients and AdamW state). --precision bf16-mixed loads it in fp32 and sets
Trainer(bf16=True): autocast's mixed precision, fp32 weights and AdamW state (itl's --precision bf16-mixed). --precision fp64 loads it in fp64: the same run
in exact arithmetic for practical purposes, which parity.py asks when itl's fp32 weights and the Trainer's
fp32 weights differ by more than its bound, to tell which of the two rounding errors is the larger.
"""
import argparse
import json
import math
import os
import sys
import time


def fail(message):
    sys.exit(f"train_reference: {message}")


def read_entry(folder):
    """One tokenised-dataset cache entry as a list of (ids, labels) int lists, validated against its meta.json."""
    import numpy as np

    meta_path = os.path.join(folder, "meta.json")
    try:
        meta = json.load(open(meta_path, encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(f"{meta_path}: not a tokenised-dataset entry ({error})")
    if meta.get("byte_order", "little-endian") != "little-endian":
        fail(f"{meta_path}: byte order {meta.get('byte_order')!r}, expected little-endian")
    arrays = {}
    for name in ["ids", "labels", "offsets"]:
        path = os.path.join(folder, f"{name}.i32")
        if not os.path.exists(path):
            fail(f"{path} is missing")
        arrays[name] = np.fromfile(path, dtype="<i4")
    ids, labels, offsets = arrays["ids"], arrays["labels"], arrays["offsets"]
    count, tokens = meta.get("count"), meta.get("tokens")
    if not (len(offsets) == count + 1 and len(ids) == tokens == len(labels) and offsets[0] == 0 and offsets[-1] == tokens):
        fail(f"{folder}: files disagree with meta.json ({count} examples, {tokens} tokens; found {len(offsets) - 1} "
             f"offsets-1, {len(ids)} ids, {len(labels)} labels)")
    return [(ids[offsets[k]:offsets[k + 1]].tolist(), labels[offsets[k]:offsets[k + 1]].tolist()) for k in range(count)]


class Rows:
    """A map-style dataset of tokenised rows (torch Dataset protocol; no column filtering by Trainer)."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        ids, labels = self.rows[index]
        return {"input_ids": ids, "labels": labels}


def make_collator(pad_id):
    import torch

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):  # right padding, as the study's collator
            n = len(f["input_ids"])
            input_ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            attention_mask[row, :n] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    return collate


def schedule(n_train, batch, grad_acc, epochs, warmup_ratio):
    """Optimiser steps as transformers counts them, and the study's intervals (docs/design.md, "Training schedule")."""
    micro_batches = math.ceil(n_train / batch)
    updates_per_epoch = max(1, math.ceil(micro_batches / grad_acc))
    total = math.ceil(epochs * updates_per_epoch)
    steps_per_epoch = math.ceil(n_train / (batch * grad_acc))
    return {"total_steps": total, "warmup_steps": math.ceil(warmup_ratio * total),
            "eval_steps": max(1, steps_per_epoch // 2), "save_steps": 2 * steps_per_epoch}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Hugging Face model folder (the base model for LoRA)")
    parser.add_argument("--train", required=True, help="tokenised-dataset entry of the training rows")
    parser.add_argument("--eval", help="tokenised-dataset entry of the eval rows (none: no evaluation)")
    parser.add_argument("--out", required=True, help="output folder (must not exist)")
    parser.add_argument("--epochs", type=float, required=True)
    parser.add_argument("--batch", type=int, required=True, help="per-device batch")
    parser.add_argument("--grad-acc", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--eval-batch", type=int, default=8, help="per-device eval batch (transformers' default 8)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lr-scheduler", choices=["constant_with_warmup", "linear", "cosine"], default="constant_with_warmup")
    parser.add_argument("--warmup-ratio", type=float, default=0.05, help="warm-up over ceil(ratio × total steps)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--adam-beta1", type=float, default=0.9)
    parser.add_argument("--adam-beta2", type=float, default=0.999)
    parser.add_argument("--adam-epsilon", type=float, default=1e-8)
    parser.add_argument("--lora-r", type=int, default=0, help="0: full fine-tuning")
    parser.add_argument("--lora-alpha", type=int, default=0)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--init-adapter", help="start LoRA from this PEFT adapter folder instead of PEFT's init")
    parser.add_argument("--no-save", action="store_true", help="no intermediate checkpoints (the final one is still written)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (and OMP/MKL threads)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "bf16-mixed", "fp64"], default="fp32",
                        help="bf16: the model loaded in bf16 and Trainer(bf16=True); bf16-mixed: loaded in fp32 and "
                        "Trainer(bf16=True) (autocast); fp64: the model loaded in fp64")
    parser.add_argument("--json", action="store_true", help="print summary.json")
    args = parser.parse_args()

    if os.path.exists(args.out):
        fail(f"{args.out} exists; name a new folder")
    for name in ["model", "train", "eval", "init_adapter"]:
        value = getattr(args, name)
        if value is not None and not os.path.isdir(value):
            fail(f"--{name.replace('_', '-')} {value} is not a folder")
    if args.init_adapter and args.lora_r <= 0:
        fail("--init-adapter needs --lora-r > 0")
    if args.threads:
        # Before torch is imported, so OpenMP and MKL start with these counts.
        for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"]:
            os.environ[var] = str(args.threads)

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, set_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    train_rows = read_entry(args.train)
    eval_rows = read_entry(args.eval) if args.eval else None
    if not 0 <= args.warmup_ratio < 1:
        fail(f"--warmup-ratio {args.warmup_ratio}: transformers reads a warmup_steps below 1 as a ratio; use [0, 1)")
    plan = schedule(len(train_rows), args.batch, args.grad_acc, args.epochs, args.warmup_ratio)

    set_seed(args.seed)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "bf16-mixed": torch.float32, "fp64": torch.float64}[args.precision]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
    vocab = model.config.vocab_size
    top = max(max(ids) for ids, _ in train_rows + (eval_rows or []))
    if top >= vocab:
        fail(f"token id {top} in the data is outside the model's vocabulary of {vocab}")
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    if args.lora_r > 0:
        import peft

        versions["peft"] = peft.__version__
        if args.init_adapter:
            model = peft.PeftModel.from_pretrained(model, args.init_adapter, is_trainable=True)
            config = model.peft_config["default"]
            if config.r != args.lora_r or config.lora_alpha != args.lora_alpha:
                fail(f"{args.init_adapter} has r={config.r} alpha={config.lora_alpha}, "
                     f"not r={args.lora_r} alpha={args.lora_alpha}")
            config.lora_dropout = args.lora_dropout
            for module in model.modules():  # the adapter's saved dropout is replaced by this run's
                if isinstance(module, peft.tuners.lora.LoraLayer):
                    module.lora_dropout["default"] = (torch.nn.Dropout(args.lora_dropout) if args.lora_dropout > 0
                                                      else torch.nn.Identity())
        else:
            config = peft.LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                     "down_proj"], bias="none", task_type="CAUSAL_LM")
            model = peft.get_peft_model(model, config)

    training_args = TrainingArguments(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=args.eval_batch,
        gradient_accumulation_steps=args.grad_acc,
        learning_rate=args.lr,
        lr_scheduler_type=args.lr_scheduler,
        warmup_steps=args.warmup_ratio,  # below 1, a ratio: ceil(ratio × total steps), as the study's warmup_ratio=0.05
        optim="adamw_torch",
        adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2,
        adam_epsilon=args.adam_epsilon,
        weight_decay=args.weight_decay,
        max_grad_norm=1.0,
        seed=args.seed,
        logging_strategy="steps",
        logging_steps=1,  # every step's loss, grad_norm and learning rate in log_history
        eval_strategy="steps" if eval_rows else "no",
        eval_steps=plan["eval_steps"],
        save_strategy="steps",
        save_steps=plan["total_steps"] if args.no_save else plan["save_steps"],
        use_cpu=True,
        bf16=args.precision in ("bf16", "bf16-mixed"),
        fp16=False,
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=True,
    )

    class CountingTrainer(Trainer):
        """Counts real (attention-mask) and padded tokens of the training micro-batches for tokens/s."""

        real_tokens = 0
        padded_tokens = 0

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.real_tokens += int(inputs["attention_mask"].sum())
            self.padded_tokens += inputs["attention_mask"].numel()
            return super().training_step(model, inputs, num_items_in_batch)

    pad_id = model.config.pad_token_id if getattr(model.config, "pad_token_id", None) is not None else 0
    trainer = CountingTrainer(model=model, args=training_args, train_dataset=Rows(train_rows),
                              eval_dataset=Rows(eval_rows) if eval_rows else None, data_collator=make_collator(pad_id))
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    start = time.perf_counter()
    output = trainer.train()
    runtime = time.perf_counter() - start

    if trainer.state.global_step != plan["total_steps"]:
        fail(f"the Trainer made {trainer.state.global_step} steps, this script expected {plan['total_steps']}")
    lines = []
    for entry in trainer.state.log_history:
        if "loss" in entry and "grad_norm" in entry:
            lines.append({"step": entry["step"], "epoch": entry["epoch"], "loss": entry["loss"],
                          "learning_rate": entry["learning_rate"], "grad_norm": entry["grad_norm"]})
        elif "eval_loss" in entry:
            lines.append({"step": entry["step"], "epoch": entry["epoch"], "eval_loss": entry["eval_loss"]})
    checkpoint = os.path.join(args.out, f"checkpoint-{trainer.state.global_step}")
    summary = {
        "run_dir": os.path.abspath(args.out),
        "global_step": trainer.state.global_step,
        "train_loss": output.training_loss,
        "train_runtime_s": runtime,
        "train_tokens": trainer.real_tokens,
        "train_tokens_per_s": trainer.real_tokens / runtime,
        "padding_fraction": 1 - trainer.real_tokens / max(1, trainer.padded_tokens),
        "checkpoint": os.path.abspath(checkpoint),
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "schedule": plan,
        "versions": versions,
    }
    with open(os.path.join(args.out, "metrics.jsonl"), "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
