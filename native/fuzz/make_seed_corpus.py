#!/usr/bin/env python3
"""Writes the fuzzer's small seed corpus into the folder given as the only argument: a few valid
safetensors images laid out as the reference writer lays them out, and a few near misses."""
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


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
