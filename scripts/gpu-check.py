#!/usr/bin/env python3
"""Compares itl's CUDA logits with transformers' on the same model folders (GPU machine).

  itl_native_check DIR cuda:0 && python3 scripts/gpu-check.py DIR [--json RESULT]

For each tiny preset DIR/<preset> holds a random model saved by itl (fp32, HF layout) and the logits
itl computed on one left-padded batch in fp32 and bf16 (DIR/check.json gives ids, mask, shapes).
transformers' LlamaForCausalLM loads each folder on CUDA and runs the same batch with HF generate's
position ids; at the real (unpadded) positions:
  - fp32: max |itl - HF| < 5e-5 × the logit scale (max |logit|; ~1.4e-6 × seen on a CPU), and the
    same argmax wherever HF's top-2 gap exceeds twice that;
  - bf16: itl bf16 vs HF bf16 max |diff| < 10 % of the fp32 logit scale (the random weights are large), and top-1 agreement of
    itl bf16 with HF fp32 >= 0.8 (what the C++ test demands of bf16 against fp32).
The same two checks for itl's packed logits (the rows' real tokens end to end, attention within each row:
flash varlen in bf16 on CUDA) against HF's padded batch at the real positions.
Exits 1 on any mismatch; --json writes the measured numbers.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def load(folder, dtype, device):
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype)
    return model.to(device).eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--json")
    parser.add_argument("--device", default="cuda", help="where transformers runs (cpu: to try this script without a GPU)")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # the engine runs fp32 matmuls in full fp32
    torch.backends.cudnn.allow_tf32 = False
    meta = json.load(open(os.path.join(args.dir, "check.json")))
    B, T = meta["batch"], meta["length"]
    ids = torch.tensor(meta["ids"], dtype=torch.long).view(B, T).to(args.device)
    mask = torch.tensor(meta["mask"], dtype=torch.long).view(B, T).to(args.device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # HF generate's position ids
    real = mask.view(-1).bool()
    failures, results = [], {}

    def check(name, ok, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            failures.append(name)

    for preset in meta["presets"]:
        name, vocab = preset["name"], preset["vocab"]
        folder = os.path.join(args.dir, name)
        ours = {}
        for dt in ("fp32", "bf16"):
            raw = np.fromfile(os.path.join(folder, f"itl_logits_{dt}.f32"), dtype="<f4")
            ours[dt] = torch.from_numpy(raw).view(B, T, vocab).to(args.device).view(-1, vocab)[real]
            # Row-major real positions of the batch = the rows' real tokens end to end = the packed order.
            packed = np.fromfile(os.path.join(folder, f"itl_logits_packed_{dt}.f32"), dtype="<f4")
            ours[f"packed_{dt}"] = torch.from_numpy(packed).view(-1, vocab).to(args.device)
        theirs = {}
        for dt, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            model = load(folder, dtype, args.device)
            with torch.no_grad():
                out = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            theirs[dt] = out.float().view(-1, vocab)[real]
            del model
        scale = theirs["fp32"].abs().max().item()
        d32 = (ours["fp32"] - theirs["fp32"]).abs().max().item()
        tol32 = 5e-5 * scale
        top2 = theirs["fp32"].topk(2, -1).values
        clear = (top2[:, 0] - top2[:, 1]) > 2 * tol32
        same32 = bool((ours["fp32"].argmax(-1) == theirs["fp32"].argmax(-1))[clear].all().item())
        d16 = (ours["bf16"] - theirs["bf16"]).abs().max().item()
        agree16 = (ours["bf16"].argmax(-1) == theirs["fp32"].argmax(-1)).float().mean().item()
        results[name] = {"fp32_max_abs_diff": d32, "logit_scale": scale, "fp32_top1_equal": same32,
                         "clear_positions": int(clear.sum().item()), "bf16_max_abs_diff_vs_hf_bf16": d16,
                         "bf16_top1_agreement_vs_hf_fp32": agree16}
        check(f"{name} fp32 logits", d32 < tol32 and same32, f"max |itl - HF| {d32:.2e} (limit {tol32:.1e}, scale {scale:.2f}), top-1 equal {same32}")
        check(f"{name} bf16 logits", d16 < 0.1 * scale and agree16 >= 0.8,
              f"max |itl - HF| {d16:.3f} (10 % of scale: {0.1 * scale:.3f}), top-1 agreement with fp32 {agree16:.3f}")
        if ours["packed_fp32"].shape != theirs["fp32"].shape:
            check(f"{name} packed logits", False, f"shape {tuple(ours['packed_fp32'].shape)}, expected {tuple(theirs['fp32'].shape)}")
            continue
        p32 = (ours["packed_fp32"] - theirs["fp32"]).abs().max().item()
        psame32 = bool((ours["packed_fp32"].argmax(-1) == theirs["fp32"].argmax(-1))[clear].all().item())
        p16 = (ours["packed_bf16"] - theirs["bf16"]).abs().max().item()
        pagree16 = (ours["packed_bf16"].argmax(-1) == theirs["fp32"].argmax(-1)).float().mean().item()
        results[name].update({"packed_fp32_max_abs_diff": p32, "packed_fp32_top1_equal": psame32,
                              "packed_bf16_max_abs_diff_vs_hf_bf16": p16, "packed_bf16_top1_agreement_vs_hf_fp32": pagree16})
        check(f"{name} packed fp32 logits", p32 < tol32 and psame32, f"max |itl - HF| {p32:.2e} (limit {tol32:.1e}), top-1 equal {psame32}")
        check(f"{name} packed bf16 logits", p16 < 0.1 * scale and pagree16 >= 0.8,
              f"max |itl - HF| {p16:.3f} (10 % of scale: {0.1 * scale:.3f}), top-1 agreement with fp32 {pagree16:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "itl_torch": meta.get("torch_version"), "results": results,
                       "failures": failures}, f, indent=2)
    print(f"gpu-check.py: {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
