#!/usr/bin/env python3
"""HellaSwag examples/s: itl against a plain transformers loop that scores each (context, ending)
pair as lm-evaluation-harness 0.4.8 does (one forward per pair), same model, same rows, same run.

The model is bench-20m (seed 1, the weights `itl bench eval` scores with); its vocabulary is 8,192,
so the SmolLM2 tokenizer's ids are folded into it (id mod 8192) on both sides, as `itl bench eval`
does. Prints one JSON object; the target is itl ≥ 3× the loop.

Usage: scripts/reference/bench.py [--itl 'node bin/itl.js'] [--docs 200]
Needs the reference environment (scripts/reference/setup.sh).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity  # noqa: E402  (the lm-eval rules written out, shared with the parity checks)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--itl", default="node bin/itl.js")
    parser.add_argument("--docs", type=int, default=200, help="must match itl bench eval's document count")
    args = parser.parse_args()
    ours = json.loads(subprocess.run(shlex.split(args.itl) + ["bench", "eval", "--json"], cwd=parity.ROOT, check=True,
                                     capture_output=True, text=True).stdout)
    assert ours["eval"]["hellaswag"]["docs"] == args.docs, "itl bench eval scored a different number of documents"
    work = tempfile.mkdtemp(prefix="itl-bench-reference-")
    folder = os.path.join(work, "bench-20m")
    parity.itl(["model", "init", "--preset", "bench-20m", "--out", folder, "--seed", "1"], args.itl)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(parity.SMOLLM2)
    rows = [json.loads(line) for line in open(parity.HELLASWAG, encoding="utf-8")][:args.docs]
    parity.lm_eval_hellaswag(model, tokenizer, rows[:2], fold=model.config.vocab_size)  # warm-up
    started = time.perf_counter()
    reference = parity.lm_eval_hellaswag(model, tokenizer, rows, fold=model.config.vocab_size)
    seconds = time.perf_counter() - started
    loop = args.docs / seconds
    acc = sum(d["acc"] for d in reference) / len(reference)
    print(json.dumps({
        "hellaswag_examples_per_s": ours["hellaswag_examples_per_s"],
        "transformers_loop_examples_per_s": round(loop, 2),
        "speedup": round(ours["hellaswag_examples_per_s"] / loop, 2),
        "target_speedup": 3,
        "docs": args.docs,
        "transformers_loop_seconds": round(seconds, 3),
        "transformers_loop_acc": acc,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }, indent=2))


if __name__ == "__main__":
    main()
