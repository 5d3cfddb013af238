// The itl side of bench_engine.py: loads a model folder through the addon (as every itl command
// does) and times, in this one process, the forward benchmark (full logits, no grad, on the ids the
// seeded libtorch CPU generator draws: torch.randint(vocab, (batch, seq_len), generator seeded with
// --seed), the same ids Python draws with the same torch version) and greedy generation of the
// prompts in --prompts (a JSON list of id lists) with no eos, so every row makes --new-tokens.
// Prints one JSON object. Needs `npm run build`.
//
//   node scripts/reference/bench_engine_itl.mjs --model DIR --threads 2 --batch 16 --seq-len 128 --seed 0 \
//        --min-seconds 3 --prompts FILE --new-tokens 64 [--dtype fp32|bf16]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Model } from '../../dist/native/Model.js';
import { Runtime } from '../../dist/native/Runtime.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '128' },
    seed: { type: 'string', default: '0' },
    'min-seconds': { type: 'string', default: '3' },
    prompts: { type: 'string' },
    'new-tokens': { type: 'string', default: '64' },
    'check-row': { type: 'string' },
    dtype: { type: 'string', default: 'fp32' },
  },
  strict: true,
});
for (const key of ['model', 'prompts']) {
  if (values[key] === undefined) throw new Error(`bench_engine_itl: --${key} is required`);
}
const int = (key) => {
  const n = Number(values[key]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bench_engine_itl: --${key} must be a non-negative integer, got ${values[key]}`);
  return n;
};

const threads = int('threads');
const runtime = Runtime.open({ torchThreads: threads, blasThreads: threads });
if (!['fp32', 'bf16'].includes(values.dtype)) throw new Error(`bench_engine_itl: --dtype must be fp32 or bf16, got ${values.dtype}`);
const model = await Model.load(runtime, values.model, { dtype: values.dtype });
try {
  const forward = await model.benchForward({
    batch: int('batch'),
    seqLen: int('seq-len'),
    minSeconds: Number(values['min-seconds']),
    seed: int('seed'),
  });
  const prompts = JSON.parse(readFileSync(values.prompts, 'utf8'));
  const newTokens = int('new-tokens');
  await model.generate(prompts.slice(0, 2), { maxNewTokens: 4, eosIds: [] }); // warm-up
  // Whole calls, repeated for at least half of --min-seconds, as the Python side does.
  const started = performance.now();
  let out;
  let calls = 0;
  let seconds = 0;
  do {
    out = await model.generate(prompts, { maxNewTokens: newTokens, eosIds: [], batchSize: prompts.length });
    calls += 1;
    seconds = (performance.now() - started) / 1000;
  } while (seconds < Number(values['min-seconds']) / 2);
  const generated = calls * out.reduce((n, row) => n + row.length, 0);
  // Argmax per position of one row of the forward ids (given back by Python): shows both sides timed the same ids.
  const check = values['check-row'] ? await model.forward(JSON.parse(readFileSync(values['check-row'], 'utf8'))) : null;
  process.stdout.write(
    `${JSON.stringify({
      forward_tokens_per_s: forward.tokensPerS,
      forward_calls: forward.calls,
      forward_seconds: forward.seconds,
      forward_gflops: forward.gflops,
      generate_tokens_per_s: generated / seconds,
      generate_seconds: seconds,
      generate_calls: calls,
      generated_tokens: generated,
      new_ids: out.map((row) => Array.from(row)),
      check_row_top1: check ? Array.from(check.top1) : null,
      threads: runtime.threads,
      parameters: model.info.parameterCount,
    })}\n`,
  );
} finally {
  model.dispose();
}
