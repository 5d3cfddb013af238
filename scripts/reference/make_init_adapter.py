#!/usr/bin/env python3
"""Writes an initial PEFT LoRA adapter for a model folder, the common starting point of `itl train
--init-adapter` and train_reference.py --init-adapter in the LoRA parity check.

A is PEFT's own init (Kaiming-uniform, a=√5) under torch.manual_seed(--seed); B, which PEFT sets to
zero, is drawn N(0, --b-std²) from a generator seeded with --seed + 1, so that A and B both get a
gradient from the first step (with B = 0, A's gradient is zero until B moves). Targets q, k, v, o, gate,
up, down as the study; dropout is saved as --lora-dropout (the runs set their own).

  make_init_adapter.py --model DIR --r 8 --alpha 16 --out DIR [--seed 0] [--b-std 0.02]
"""
import argparse
import os
import sys

import peft
import torch
from transformers import AutoModelForCausalLM

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--r", type=int, required=True)
    parser.add_argument("--alpha", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--b-std", type=float, default=0.02)
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    args = parser.parse_args()
    if args.r <= 0 or args.alpha <= 0:
        sys.exit(f"make_init_adapter: expected positive --r and --alpha, got r={args.r} alpha={args.alpha}")
    if os.path.exists(args.out):
        sys.exit(f"make_init_adapter: {args.out} exists; name a new folder")
    torch.manual_seed(args.seed)
    base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    config = peft.LoraConfig(r=args.r, lora_alpha=args.alpha, lora_dropout=args.lora_dropout, target_modules=TARGETS,
                             bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, config)
    generator = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * args.b_std)
    model.save_pretrained(args.out)
    print(f"wrote a LoRA adapter (r={args.r}, alpha={args.alpha}, B ~ N(0, {args.b_std}²)) for {args.model} to {args.out}")


if __name__ == "__main__":
    main()
