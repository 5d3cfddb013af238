#!/usr/bin/env python3
"""Writes the tiny model folders of native/tests/fixtures/families/: one model per family that
differs from Llama (qwen2, qwen3, smollm3, mistral), written by transformers' own classes, with the
logits transformers computes for a fixed padded batch. The C++ tests (model_families_test.cpp) load
each folder with itl and compare, so they check the engine against transformers without Python.

Each model: vocabulary 64, hidden 32, GQA 4/2, weights drawn N(0, 0.2) (ten times HF's scale, so
attention is not uniform), biases and q/k norm weights drawn too (HF initialises them to 0 and 1,
which would hide a missing bias or norm). SmolLM3 has 4 layers so that one (index 3) skips RoPE;
Mistral has a sliding window of 16, longer than the batch (the engine refuses longer sequences).

  expected.safetensors: ids (2, 9) int64, mask (2, 9) int64 (row 1 left-padded by 3),
                        logits (2, 9, 64) float32 (transformers, fp32, sdpa attention)

Usage: .venv-reference/bin/python scripts/reference/make_family_fixtures.py [--out DIR]
Deterministic: the same torch/transformers versions write the same bytes (versions in PROVENANCE.md).
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "native", "tests", "fixtures", "families")

COMMON = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0)
FAMILIES = {
    "qwen2": (transformers.Qwen2Config, dict(num_hidden_layers=2, rope_theta=1e6, tie_word_embeddings=True)),
    "qwen3": (transformers.Qwen3Config, dict(num_hidden_layers=2, head_dim=16, rope_theta=1e6, tie_word_embeddings=True)),
    "smollm3": (transformers.SmolLM3Config, dict(num_hidden_layers=4, rope_theta=5e6, tie_word_embeddings=True)),
    "mistral": (transformers.MistralConfig, dict(num_hidden_layers=2, rope_theta=1e6, sliding_window=16,
                                                   tie_word_embeddings=False)),
}


def make(model_type, out_dir):
    config_class, extra = FAMILIES[model_type]
    config = config_class(**COMMON, **extra)
    torch.manual_seed(1234)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
            else:
                param.copy_(0.2 * torch.randn_like(param))
    folder = os.path.join(out_dir, model_type)
    model.save_pretrained(folder, safe_serialization=True)
    ids = torch.tensor([[5, 17, 33, 8, 61, 2, 40, 12, 9], [0, 0, 0, 44, 3, 27, 50, 6, 19]], dtype=torch.int64)
    mask = torch.tensor([[1] * 9, [0, 0, 0] + [1] * 6], dtype=torch.int64)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float().contiguous()
    save_file({"ids": ids, "mask": mask, "logits": logits}, os.path.join(folder, "expected.safetensors"))
    written = json.load(open(os.path.join(folder, "config.json")))
    print(f"{model_type}: {sum(p.numel() for p in model.parameters())} parameters, architectures {written['architectures']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for model_type in FAMILIES:
        make(model_type, args.out)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
