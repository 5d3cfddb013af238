#!/usr/bin/env bash
# Makes the reference Python environment that scripts/reference/parity.py compares itl against:
# PyTorch (CPU), transformers, tokenizers, datasets, safetensors, peft, accelerate (which Trainer needs), tiktoken (Llama 3 tokenizer conversion). It lives in
# .venv-reference/ (ignored by git); nothing in itl needs it at run time.
#   scripts/reference/setup.sh && .venv-reference/bin/python scripts/reference/parity.py
# pip uses its configured index; where that is PyPI, CPU-only torch comes from PyTorch's CPU index.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${ITL_REFERENCE_VENV:-$ROOT/.venv-reference}
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
extra=()
if ! pip config list 2>/dev/null | grep -q 'index-url'; then
  extra=(--extra-index-url https://download.pytorch.org/whl/cpu)
fi
"$VENV/bin/pip" install -q "${extra[@]}" torch transformers tokenizers datasets safetensors peft accelerate tiktoken numpy jinja2
"$VENV/bin/python" -c 'import torch, transformers, datasets; print(f"reference env: torch {torch.__version__}, transformers {transformers.__version__}, datasets {datasets.__version__} in '"$VENV"'")'
