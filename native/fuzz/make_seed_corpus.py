#!/usr/bin/env python3
"""Writes a fuzzer's small seed corpus into the folder given as the first argument. Target
"safetensors" (default): a few valid images laid out as the reference writer lays them out, and a
few near misses. Target "llama_config": a SmolLM-like and a Llama-3-like config.json."""
import json
import os
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4, "F64": 8, "I64": 8}


def image(entries, metadata=None, pad=True, data=None):
    """entries: (name, dtype, shape) in data order; returns the file bytes."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in entries:
        count = 1
        for d in shape:
            count *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + count * SIZES[dtype]]}
        offset += count * SIZES[dtype]
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    body = bytes(i % 251 for i in range(offset)) if data is None else data
    return struct.pack("<Q", len(text)) + text + body


def seeds():
    yield "empty", image([])
    yield "metadata", image([], {"format": "pt"})
    yield "one_f32", image([("w", "F32", [2, 3])], {"format": "pt"})
    yield "mixed", image([("c", "I64", [2]), ("b", "F32", [3]), ("a", "BF16", [2, 2]), ("e", "BOOL", [1])])
    yield "scalar_and_empty", image([("s", "F32", []), ("z", "F16", [0, 4])])
    yield "unpadded", image([("attn.0", "F32", [1, 2, 3])], pad=False)
    yield "truncated", image([("w", "F32", [4])])[:-3]
    yield "trailing", image([("w", "U8", [2])]) + b"xx"
    yield "header_too_long", struct.pack("<Q", 1 << 20) + b"{}"


def config_seeds():
    smol = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "attention_bias": False,
            "mlp_bias": False, "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
            "rope_scaling": None, "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
            "torch_dtype": "bfloat16"}
    llama = dict(smol, head_dim=32, eos_token_id=[128001, 128009], rope_theta=500000.0, tie_word_embeddings=False,
                 rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192})
    yield "smol", json.dumps(smol, indent=2).encode()
    yield "llama", json.dumps(llama, indent=2).encode()


def main():
    out = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else "safetensors"
    os.makedirs(out, exist_ok=True)
    for name, data in (config_seeds() if target == "llama_config" else seeds()):
        with open(os.path.join(out, name + (".json" if target == "llama_config" else ".safetensors")), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
