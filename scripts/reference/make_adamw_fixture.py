#!/usr/bin/env python3
"""Writes native/tests/fixtures/adamw/torch_adamw.safetensors: five updates of torch.optim.AdamW
(the optimizer transformers' Trainer makes for optim="adamw_torch"), in bf16 and in fp32, from fixed
parameters and gradients. native/tests/train_test.cpp replays them through itl's adamw_step and
compares: bit for bit in bf16 (every operation rounds to bf16, so the order and kind of operations
is what is tested), to float rounding in fp32.

Three parameter groups, one parameter each: the study's (weight decay 0, β 0.9/0.999, ε 1e-8); the
same with weight decay 0.1; and weight decay 0.5, β 0.8/0.95, ε 1e-6, where bf16's rounding of each
scalar shows (PyTorch rounds mul_'s factor to bf16 in C++ but not from Python, and 0.999 or a factor
1 − lr·wd near 1 rounds to 1). The learning rate is set before each update, 1e-2 / (k + 1) for update
k; parameter 1 has no gradient at update 2, so its step count lags.
Parameter 1 has 1,029 elements (vector bodies and a scalar tail); gradients span 1e-6 to 10 and include
exact zeros.

  <dtype>.param.<i>          the parameters before the first update
  <dtype>.grad.<i>.<k>       parameter i's gradient at update k (absent where it has none)
  <dtype>.final.<i>          the parameters after the five updates
  <dtype>.exp_avg.<i>, <dtype>.exp_avg_sq.<i>   AdamW's moments after them
  lr                         the five learning rates (float64)

Usage: .venv-reference/bin/python scripts/reference/make_adamw_fixture.py [--out FILE]
Deterministic: the same torch version writes the same bytes (version in PROVENANCE.md).
"""
import argparse
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "native", "tests", "fixtures", "adamw", "torch_adamw.safetensors")
SHAPES = [(37, 19), (1029,), (64,)]
UPDATES = 5
MISSING = (2, 1)  # (update, parameter) without a gradient
LRS = [1e-2 / (k + 1) for k in range(UPDATES)]


def draw(generator):
    """Parameters and per-update gradients in float64, before the cast to each dtype."""
    params = [torch.randn(shape, generator=generator, dtype=torch.float64) * 0.05 for shape in SHAPES]
    grads = []
    for k in range(UPDATES):
        step = []
        for i, shape in enumerate(SHAPES):
            if (k, i) == MISSING:
                step.append(None)
                continue
            scale = 10.0 ** torch.randint(-6, 2, shape, generator=generator, dtype=torch.float64)
            g = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
            g[torch.rand(shape, generator=generator, dtype=torch.float64) < 0.02] = 0.0
            step.append(g)
        grads.append(step)
    return params, grads


def run(dtype, name, params64, grads64, tensors):
    params = [torch.nn.Parameter(p.to(dtype)) for p in params64]
    for i, p in enumerate(params):
        tensors[f"{name}.param.{i}"] = p.detach().clone()
    groups = [dict(params=[params[0]], weight_decay=0.0), dict(params=[params[1]], weight_decay=0.1),
              dict(params=[params[2]], weight_decay=0.5, betas=(0.8, 0.95), eps=1e-6)]
    optimizer = torch.optim.AdamW(groups, lr=LRS[0], betas=(0.9, 0.999), eps=1e-8, foreach=False, fused=False)
    for k in range(UPDATES):
        for group in optimizer.param_groups:
            group["lr"] = LRS[k]
        for i, p in enumerate(params):
            g = grads64[k][i]
            p.grad = None if g is None else g.to(dtype)
            if g is not None:
                tensors[f"{name}.grad.{i}.{k}"] = p.grad.clone()
        optimizer.step()
    for i, p in enumerate(params):
        state = optimizer.state[p]
        tensors[f"{name}.final.{i}"] = p.detach().clone()
        tensors[f"{name}.exp_avg.{i}"] = state["exp_avg"].clone()
        tensors[f"{name}.exp_avg_sq.{i}"] = state["exp_avg_sq"].clone()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(2)
    params, grads = draw(torch.Generator().manual_seed(2508))
    tensors = {"lr": torch.tensor(LRS, dtype=torch.float64)}
    run(torch.bfloat16, "bf16", params, grads, tensors)
    run(torch.float32, "fp32", params, grads, tensors)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, args.out, metadata={"torch": torch.__version__})
    print(f"wrote {args.out} ({len(tensors)} tensors, torch {torch.__version__})")


if __name__ == "__main__":
    main()
