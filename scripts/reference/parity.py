#!/usr/bin/env python3
"""Checks itl against the reference Python stack, on this machine's CPU.

  - engine: tiny models made by `itl model init` load unchanged with transformers'
    AutoModelForCausalLM.from_pretrained; their logits (`itl forward`) and greedy generations
    (`itl generate`) equal transformers' own (fp32);
  - tokenizer: `itl chat-template` renders and tokenises dialogues exactly as transformers'
    apply_chat_template does, for every reference tokenizer folder (Llama 3: tokenizer.json rebuilt
    from original/tokenizer.model by transformers' TikTokenConverter);
  - data: `datasets.load_from_disk` opens `itl data build` output and reads the same rows;
  - scoring and divergence: `Model.score` (continuation log-prob sums, greedy flags) and
    `Model.divergence` (per-token estimators, exact KL, TV) equal a direct computation on
    transformers' logits.

Usage: scripts/reference/parity.py [--itl 'node bin/itl.js'] [--keep DIR]
Needs the reference environment (scripts/reference/setup.sh). Exits 1 on any mismatch.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE_MODELS = os.path.join(ROOT, "..", "shared", "reference", "models")
failures = []
# The end-of-text token the study appends after each training dialogue, by the family's eos token.
# Llama 3 templates print today's date unless given one; itl's fixed default.
DATE_STRING = "26 Jul 2024"
END_OF_TEXT = {"<|im_end|>": "<|endoftext|>", "<|eot_id|>": "<|end_of_text|>"}


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


def itl(args, itl_cmd):
    out = subprocess.run(shlex.split(itl_cmd) + args, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"itl {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout

NODE_SCORE = r"""
import { readFileSync } from 'node:fs';
import { Runtime } from './dist/native/Runtime.js';
import { Model } from './dist/native/Model.js';
const job = JSON.parse(readFileSync(0, 'utf8'));
const runtime = Runtime.open();
const p = await Model.load(runtime, job.p);
const q = await Model.load(runtime, job.q);
const scores = await p.score(job.requests);
const d = await q.divergence(p, job.sequences, job.masks);
const list = (a) => Array.from(a);
console.log(JSON.stringify({ scores, divergence: { standard: list(d.standard), logSquare: list(d.logSquare),
  bregman: list(d.bregman), tv: list(d.tv), observedStandard: list(d.observedStandard),
  observedLogSquare: list(d.observedLogSquare), observedBregman: list(d.observedBregman) } }));
p.dispose(); q.dispose();
"""


def check_score_and_divergence(work, folders):
    """The HellaSwag primitive (sum of continuation log-probs, all-greedy flag) and the per-token
    divergence of q from p, against a direct computation on transformers' logits."""
    p_dir, q_dir = folders
    p_model = AutoModelForCausalLM.from_pretrained(p_dir, dtype=torch.float32).eval()
    q_model = AutoModelForCausalLM.from_pretrained(q_dir, dtype=torch.float32).eval()
    generator = torch.Generator().manual_seed(5)
    vocab = p_model.config.vocab_size
    requests = []
    for context_length, continuation_length in [(1, 1), (5, 3), (17, 9), (40, 2)]:
        context = torch.randint(3, vocab, (context_length,), generator=generator).tolist()
        continuation = torch.randint(3, vocab, (continuation_length,), generator=generator).tolist()
        requests.append({"context": context, "continuation": continuation})
    with torch.no_grad():  # a greedy continuation, so that is_greedy is exercised both ways
        context = requests[2]["context"]
        greedy = p_model.generate(torch.tensor([context]), max_new_tokens=6, do_sample=False, pad_token_id=0)
        requests.append({"context": context, "continuation": greedy[0, len(context):].tolist()})
    sequences = [torch.randint(3, vocab, (n,), generator=generator).tolist() for n in (9, 30)]
    masks = [[0] + [1] * (len(s) - 1) for s in sequences]
    job = {"p": p_dir, "q": q_dir, "requests": requests, "sequences": sequences, "masks": masks}
    out = subprocess.run(["node", "--input-type=module", "-e", NODE_SCORE], cwd=ROOT, input=json.dumps(job),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"scoring through the addon failed: {out.stderr.strip()}")
    ours = json.loads(out.stdout)

    worst, greedy_equal = 0.0, True
    with torch.no_grad():
        for request, score in zip(requests, ours["scores"]):
            ids = request["context"] + request["continuation"]
            logprobs = torch.log_softmax(p_model(torch.tensor([ids])).logits[0].double(), -1)
            start = len(request["context"])
            targets = torch.tensor(request["continuation"])
            positions = torch.arange(start - 1, len(ids) - 1)
            expected = logprobs[positions, targets].sum().item()
            is_greedy = bool((logprobs[positions].argmax(-1) == targets).all())
            worst = max(worst, abs(expected - score["logprob"]) / max(1.0, abs(expected)))
            greedy_equal &= is_greedy == score["isGreedy"]
    check("score: continuation log-probability sums and greedy flags", worst < 1e-5 and greedy_equal,
          f"max relative difference {worst:.1e}, greedy flags equal: {greedy_equal} "
          f"({sum(s['isGreedy'] for s in ours['scores'])} of {len(requests)} greedy)")

    expected = {k: [] for k in ["standard", "logSquare", "bregman", "tv", "observedStandard", "observedLogSquare",
                                "observedBregman"]}
    with torch.no_grad():
        for sequence in sequences:
            ids = torch.tensor([sequence])
            log_p = torch.log_softmax(p_model(ids).logits[0].double(), -1)[:-1]  # predicting tokens 1..T-1
            log_q = torch.log_softmax(q_model(ids).logits[0].double(), -1)[:-1]
            p, d = log_p.exp(), log_q - log_p
            expected["standard"] += (p * (log_p - log_q)).sum(-1).tolist()
            expected["logSquare"] += (0.5 * (p * (log_p - log_q) ** 2).sum(-1)).tolist()
            expected["bregman"] += (p * (d.exp() - 1 - d)).sum(-1).tolist()
            expected["tv"] += (0.5 * (p - log_q.exp()).abs().sum(-1)).tolist()
            observed = torch.tensor(sequence[1:])
            lp = log_p.gather(-1, observed[:, None])[:, 0]
            lq = log_q.gather(-1, observed[:, None])[:, 0]
            expected["observedStandard"] += (lp - lq).tolist()
            expected["observedLogSquare"] += (0.5 * (lp - lq) ** 2).tolist()
            expected["observedBregman"] += (torch.exp(lq - lp) - 1 - (lq - lp)).tolist()
    for key, values in expected.items():
        got = torch.tensor(ours["divergence"][key], dtype=torch.float64)
        want = torch.tensor(values)
        diff = ((got - want).abs() / want.abs().clamp(min=1e-3)).max().item()
        check(f"divergence {key} per token ({len(values)} positions)", len(got) == len(want) and diff < 1e-3,
              f"max relative difference {diff:.1e}, mean {want.mean().item():.4f}")


def check_engine(work, itl_cmd):
    torch.manual_seed(0)
    for preset in ["tiny-smollm", "tiny-llama32", "tiny-llama31"]:
        folder = os.path.join(work, preset)
        itl(["model", "init", "--preset", preset, "--out", folder, "--seed", "7"], itl_cmd)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
        model.eval()
        check(f"{preset}: from_pretrained loads the itl checkpoint", True, type(model).__name__)
        vocab = model.config.vocab_size
        generator = torch.Generator().manual_seed(1)
        for length in [1, 7, 300]:
            ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
            ours = json.loads(itl(["forward", "--model", folder, "--ids", ",".join(map(str, ids)), "--json"], itl_cmd))
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            reference_last = logits[-1]
            diff = (torch.tensor(ours["last_logits"]) - reference_last).abs().max().item()
            top1_equal = ours["top1"] == logits.argmax(-1).tolist()
            check(f"{preset}: forward, {length} tokens", diff < 1e-4 and top1_equal,
                  f"max |Δ last logits| = {diff:.2e}, top-1 equal at every position: {top1_equal}")
        prompt = torch.randint(3, vocab, (12,), generator=generator).tolist()
        ours = json.loads(itl(["generate", "--model", folder, "--ids", ",".join(map(str, prompt)),
                               "--max-new-tokens", "24", "--json"], itl_cmd))["new_ids"]
        with torch.no_grad():
            reference = model.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False,
                                       eos_token_id=model.generation_config.eos_token_id,
                                       pad_token_id=0)[0, len(prompt):].tolist()
        check(f"{preset}: greedy generation, 24 new tokens", ours == reference,
              f"itl {ours[:8]}…, transformers {reference[:8]}…")


def tokenizer_json_from_tiktoken(folder, out):
    """Llama 3 ships its tokenizer as tiktoken ranks (original/tokenizer.model); transformers' own
    converter turns it into the tokenizer.json that Hugging Face publishes beside it."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    model_file = os.path.join(folder, "original", "tokenizer.model")
    if not os.path.exists(model_file):
        return None
    config = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
    added = config["added_tokens_decoder"]
    specials = [added[key]["content"] for key in sorted(added, key=int)]
    os.makedirs(out, exist_ok=True)
    TikTokenConverter(vocab_file=model_file, extra_special_tokens=specials).converted().save(
        os.path.join(out, "tokenizer.json"))
    for name in ["tokenizer_config.json", "special_tokens_map.json", "config.json", "generation_config.json"]:
        if os.path.exists(os.path.join(folder, name)):
            shutil.copyfile(os.path.join(folder, name), os.path.join(out, name))
    print(f"note {os.path.basename(folder)}: tokenizer.json made from original/tokenizer.model by transformers' TikTokenConverter")
    return out


def dialogues_from_preview(preview_path, count):
    rows = [json.loads(line) for line in open(preview_path, encoding="utf-8")][:count]
    return rows


def check_tokenizers(work, preview, itl_cmd):
    rows = dialogues_from_preview(preview, 8)
    for folder_name in sorted(os.listdir(REFERENCE_MODELS)):
        folder = os.path.join(REFERENCE_MODELS, folder_name)
        if not os.path.exists(os.path.join(folder, "tokenizer.json")):
            folder = tokenizer_json_from_tiktoken(folder, os.path.join(work, folder_name))
            if folder is None:
                print(f"note {folder_name}: neither tokenizer.json nor original/tokenizer.model; not compared")
                continue
        tokenizer = AutoTokenizer.from_pretrained(folder)
        mismatches = 0
        cases = 0
        for row in rows:
            for column in ["qa", "qatool"]:
                messages = row[column]
                for generation_prompt in [False, True]:
                    shown = messages[:-1] if generation_prompt else messages
                    path = os.path.join(work, "messages.json")
                    with open(path, "w", encoding="utf-8") as f:
                        json.dump(shown, f)
                    args = ["chat-template", "--model", folder, "--messages", path, "--json"]
                    if generation_prompt:
                        args.append("--generation-prompt")
                    ours = json.loads(itl(args, itl_cmd))
                    text = tokenizer.apply_chat_template(shown, tokenize=False, add_generation_prompt=generation_prompt,
                                                         date_string=DATE_STRING)
                    if not generation_prompt:
                        text += END_OF_TEXT[tokenizer.eos_token]  # a training example, as the study builds it
                    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                    cases += 1
                    if ours["text"] != text or ours["ids"][: len(ids)] != ids:
                        mismatches += 1
                        if mismatches == 1:
                            print(f"     first mismatch ({column}, generation prompt {generation_prompt}):")
                            print(f"     itl  {ours['text']!r}\n     HF   {text!r}")
        check(f"{folder_name}: chat template text and ids", mismatches == 0, f"{cases - mismatches}/{cases} dialogues equal")


def check_dataset(work, itl_cmd):
    import datasets

    out = os.path.join(work, "facts")
    itl(["data", "build", "--people", "300", "--seed", "3", "--out", out], itl_cmd)
    dataset = datasets.load_from_disk(os.path.join(out, "dataset"))
    preview = [json.loads(line) for line in open(os.path.join(out, "preview.jsonl"), encoding="utf-8")]
    equal = all(dataset[i] == preview[i] for i in range(len(preview)))
    check("datasets.load_from_disk opens itl data build output", len(dataset) == 1200 and equal,
          f"{len(dataset)} rows, features {list(dataset.features)}, preview rows equal: {equal}")
    return os.path.join(out, "preview.jsonl")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--itl", default="node bin/itl.js")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    print(f"reference: torch {torch.__version__}, transformers {transformers.__version__}")
    if args.keep and os.path.exists(args.keep):
        sys.exit(f"parity: {args.keep} exists; name a new folder")
    work = args.keep or tempfile.mkdtemp(prefix="itl-parity-")
    os.makedirs(work, exist_ok=True)
    preview = check_dataset(work, args.itl)
    check_tokenizers(work, preview, args.itl)
    check_engine(work, args.itl)
    second = os.path.join(work, "tiny-llama32-seed8")
    itl(["model", "init", "--preset", "tiny-llama32", "--out", second, "--seed", "8"], args.itl)
    check_score_and_divergence(work, (os.path.join(work, "tiny-llama32"), second))
    print(f"\n{'all checks passed' if not failures else str(len(failures)) + ' check(s) failed: ' + ', '.join(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
