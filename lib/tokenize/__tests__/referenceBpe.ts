/**
 * A second, deliberately naive implementation of a byte-level BPE tokenizer.json (GPT-2 scheme,
 * with an optional individual-digits split as SmolLM uses), written from the algorithm's
 * description rather than from @huggingface/tokenizers, to establish expected ids independently:
 *
 *   split out added tokens (longest match, left to right) → split digits → GPT-2 pre-tokenizer
 *   regex → UTF-8 bytes mapped to printable symbols → repeatedly merge the adjacent pair with the
 *   lowest merge rank → look the symbols up in the vocabulary.
 *
 * It supports only what the tests feed it (no normalizer, ByteLevel without prefix space).
 */
type Json = Record<string, unknown>;

/** GPT-2's reversible byte → printable-character table. */
function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const symbols: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    symbols[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return symbols;
}

const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export class ReferenceBpe {
  private readonly vocab: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly added: { content: string; id: number }[];
  private readonly symbols = byteSymbols();
  private readonly splitDigits: boolean;

  constructor(tokenizerJson: Json) {
    const model = tokenizerJson.model as Json;
    this.vocab = new Map(Object.entries(model.vocab as Record<string, number>));
    (model.merges as (string | string[])[]).forEach((merge, rank) => {
      const [left, right] = typeof merge === 'string' ? merge.split(' ') : merge;
      this.ranks.set(`${left} ${right}`, rank);
    });
    this.added = (tokenizerJson.added_tokens as { content: string; id: number }[]).slice();
    const pre = tokenizerJson.pre_tokenizer as Json;
    this.splitDigits = pre.type === 'Sequence' && (pre.pretokenizers as Json[]).some((p) => p.type === 'Digits');
  }

  /** Ids without any post-processing (transformers' add_special_tokens=False). */
  encode(text: string): number[] {
    const ids: number[] = [];
    let plain = '';
    for (let i = 0; i < text.length; ) {
      const match = this.added.filter((t) => text.startsWith(t.content, i)).sort((a, b) => b.content.length - a.content.length)[0];
      if (match) {
        ids.push(...this.encodePlain(plain));
        plain = '';
        ids.push(match.id);
        i += match.content.length;
      } else {
        plain += text[i];
        i++;
      }
    }
    ids.push(...this.encodePlain(plain));
    return ids;
  }

  private encodePlain(text: string): number[] {
    const pieces = this.splitDigits ? (text.match(/\d|[^\d]+/g) ?? []) : [text];
    const ids: number[] = [];
    for (const piece of pieces) {
      for (const word of piece.match(GPT2_PATTERN) ?? []) ids.push(...this.bpe(word));
    }
    return ids;
  }

  private bpe(word: string): number[] {
    let parts = Array.from(new TextEncoder().encode(word), (b) => this.symbols[b]!);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    return parts.map((part) => {
      const id = this.vocab.get(part);
      if (id === undefined) throw new Error(`reference BPE: '${part}' not in the vocabulary`);
      return id;
    });
  }
}
