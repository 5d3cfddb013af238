"""Trains the demo model's byte-level BPE tokenizer with Hugging Face's `tokenizers` library.

Run through scripts/make-demo-tokenizer.mjs, which writes the corpus (the demo's own generated
dialogues) and calls: python scripts/train_demo_tokenizer.py CORPUS OUT_JSON VOCAB_SIZE

SmolLM's pre-tokenizer (digits one by one, then GPT-2's byte level), SmolLM's special tokens at
SmolLM's ids (0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>), the full 256-byte alphabet so any
text (a model's hostile output included) encodes.
"""
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: train_demo_tokenizer.py CORPUS OUT_JSON VOCAB_SIZE")
    corpus, out, vocab_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train([corpus], trainer)
    for i, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != i:
            sys.exit(f"{token} got id {tokenizer.token_to_id(token)}, expected {i}")
    tokenizer.save(out, pretty=True)


if __name__ == "__main__":
    main()
