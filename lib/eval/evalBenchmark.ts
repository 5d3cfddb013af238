/**
 * `itl bench eval`: throughput of the three evaluations on bench-20m (fp32, CPU).
 *   recall_examples_per_s      in-tool recall, both turns: turn 1 answers the question, turn 2 reads
 *                              the tool's reply (the real database lookup of the request the in-tool
 *                              dialogue makes: a random model makes none itself), greedy, ≤ 64 tokens each
 *   hellaswag_examples_per_s   documents scored per second (four endings each), lm-eval's rules
 *   hellaswag_context_reuse    tokens a naive scorer (context + ending, four times) would feed ÷ tokens fed
 *   kl_tokens_per_s            completion positions compared per second (both models' forwards and the
 *                              full-vocabulary divergence)
 * Text goes through the real SmolLM2 tokenizer; bench-20m's vocabulary is 8,192, so input ids are
 * folded into it (id mod 8192): the same lengths, so the same work, as real ids.
 * The tokenizer and HellaSwag rows are the reference files beside the repository
 * (../shared/reference), or ITL_BENCH_TOKENIZER and ITL_BENCH_HELLASWAG.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Benchmark } from '../bench/Benchmark.js';
import { openFactsDatabase } from '../data/factsDatabase.js';
import { openFactsDataset } from '../data/openFactsDataset.js';
import { buildFactsDataset } from '../data/buildFactsDataset.js';
import { packageRoot, shippedAtomsDir, shippedTemplatesDir } from '../data/shippedPaths.js';
import { formatToolRequest } from '../data/toolRequest.js';
import { ItlError } from '../errors.js';
import { Model } from '../native/Model.js';
import { loadTokenizer } from '../tokenize/loadTokenizer.js';
import { BatchSize } from './BatchSize.js';
import type { EvalModel } from './EvalModel.js';
import { evaluateMultipleChoice } from './multipleChoice.js';
import { readHellaswag } from './hellaswagData.js';
import { baseCompletions, evaluateKl, readKlPrompts } from './kl.js';
import { runToolRequest, selectRecallExamples } from './recall.js';

const PRESET = 'bench-20m';
const RECALL = { examples: 64, batch: 32, maxNewTokens: 64 };
const HELLASWAG = { docs: 200, batch: 64 };
const KL = { prompts: 32, maxNewTokens: 128, batch: 8 };
const DATE = '26 Jul 2024';

function referenceFile(env: string, relative: string): string {
  const path = process.env[env] ?? join(packageRoot, '..', 'shared', 'reference', relative);
  if (!existsSync(path)) throw new ItlError('ITL_CONFIG', `bench eval needs ${path} (set ${env})`);
  return path;
}

/** `model` reading every input id modulo its vocabulary. */
function folded(model: Model): EvalModel {
  const vocab = model.info.config.vocabSize;
  const fold = (rows: readonly ArrayLike<number>[]) => rows.map((r) => Array.from(r, (id) => id % vocab));
  return {
    info: model.info,
    generate: (prompts, options, onProgress) => model.generate(fold(prompts), options, onProgress),
    score: (requests, options, onProgress) =>
      model.score(
        requests.map((r) => ({ context: fold([r.context])[0]!, continuation: fold([r.continuation])[0]! })),
        options,
        onProgress,
      ),
    divergence: (reference, sequences, masks, options, onProgress) =>
      model.divergence(reference, fold(sequences), masks, options, onProgress),
  };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export const evalBenchmark: Benchmark = {
  name: 'eval',
  describe: `${PRESET}: in-tool recall examples/s (two turns), HellaSwag examples/s and context reuse, KL positions/s`,
  async run(context) {
    const tokenizer = await loadTokenizer(referenceFile('ITL_BENCH_TOKENIZER', join('models', 'HuggingFaceTB__SmolLM2-135M-Instruct')));
    const docs = readHellaswag(referenceFile('ITL_BENCH_HELLASWAG', join('hellaswag', 'hellaswag_val_sample1000.jsonl')), {
      limit: HELLASWAG.docs,
    });
    const dir = mkdtempSync(join(tmpdir(), 'itl-bench-eval-'));
    const models: Model[] = [];
    try {
      await buildFactsDataset({
        people: 64,
        seed: 0,
        atomsDir: shippedAtomsDir,
        templatesDir: shippedTemplatesDir,
        outDir: join(dir, 'facts'),
        force: false,
        previewRows: 0,
        maxShardBytes: 64 << 20,
      });
      const base = await Model.init(context.runtime(), PRESET, 0, join(dir, 'base'));
      models.push(base);
      const checkpoint = await Model.init(context.runtime(), PRESET, 1, join(dir, 'checkpoint'));
      models.push(checkpoint);
      const model = folded(checkpoint);
      const log = (m: string) => context.log(`eval: ${m}`);

      context.log(`eval: in-tool recall, ${RECALL.examples} examples, two turns`);
      const dataset = openFactsDataset(join(dir, 'facts'));
      const db = openFactsDatabase(join(dir, 'facts', 'facts.sqlite'));
      let recallSeconds: number;
      let recallNewTokens = 0;
      try {
        const { train } = selectRecallExamples(dataset, 200, { trainCount: RECALL.examples, testCount: 1 });
        const generate = async (dialogues: { role: string; content: string }[][]) => {
          const prompts = dialogues.map((d) =>
            tokenizer.applyChatTemplate(d, { addGenerationPrompt: true, dateString: DATE, tokenize: true }),
          );
          const out = await model.generate(prompts, {
            maxNewTokens: RECALL.maxNewTokens,
            eosIds: tokenizer.special.generationEos,
            batchSize: RECALL.batch,
          });
          recallNewTokens += out.reduce((n, r) => n + r.length, 0);
          return out.map((ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
        };
        await model.generate([[1, 2, 3]], { maxNewTokens: 2 }); // warm-up
        const started = performance.now();
        const questions = train.map((e) => [{ role: 'user', content: e.question }]);
        await generate(questions);
        await generate(
          train.map((e, i) => {
            const request = formatToolRequest(e.attribute, e.name);
            return [
              ...questions[i]!,
              { role: 'assistant', content: request },
              { role: 'ipython', content: runToolRequest(db, request)!.answer },
            ];
          }),
        );
        recallSeconds = (performance.now() - started) / 1000;
      } finally {
        dataset.close();
        db.close();
      }

      context.log(`eval: hellaswag, ${docs.length} documents`);
      const hellaswagStarted = performance.now();
      const hellaswag = await evaluateMultipleChoice(model, tokenizer, docs, {
        task: 'hellaswag',
        batch: new BatchSize(HELLASWAG.batch, log),
      });
      const hellaswagSeconds = (performance.now() - hellaswagStarted) / 1000;

      context.log(`eval: kl, ${KL.prompts} prompts, base completions ≤ ${KL.maxNewTokens} tokens`);
      const prompts = (await readKlPrompts()).slice(0, KL.prompts);
      const completions = await baseCompletions(folded(base), tokenizer, prompts, {
        dateString: DATE,
        maxNewTokens: KL.maxNewTokens,
        batch: new BatchSize(32, log),
      });
      // The divergence reads the base model's ids as they are: fold them once, as the model saw them.
      const vocab = base.info.config.vocabSize;
      const foldedCompletions = completions.map((c) => ({ ...c, prompt_ids: c.prompt_ids.map((id) => id % vocab) }));
      const klStarted = performance.now();
      const kl = await evaluateKl(checkpoint, base, foldedCompletions, { batch: new BatchSize(KL.batch, log) });
      const klSeconds = (performance.now() - klStarted) / 1000;
      const klSequenceTokens = foldedCompletions.reduce((n, c) => n + c.prompt_ids.length + c.completion_ids.length, 0);

      return {
        recall_examples_per_s: round(RECALL.examples / recallSeconds, 2),
        hellaswag_examples_per_s: round(docs.length / hellaswagSeconds, 2),
        hellaswag_context_reuse: round(hellaswag.tokens.naive / hellaswag.tokens.processed, 3),
        kl_tokens_per_s: round(kl.num_positions / klSeconds, 1),
        eval: {
          preset: PRESET,
          parameters: checkpoint.info.parameterCount,
          threads: context.runtime().threads,
          recall: {
            examples: RECALL.examples,
            turns: 2,
            batch: RECALL.batch,
            new_tokens: recallNewTokens,
            seconds: round(recallSeconds, 3),
          },
          hellaswag: {
            docs: docs.length,
            batch: HELLASWAG.batch,
            seconds: round(hellaswagSeconds, 3),
            naive_tokens: hellaswag.tokens.naive,
            processed_tokens: hellaswag.tokens.processed,
          },
          kl: {
            prompts: prompts.length,
            positions: kl.num_positions,
            sequence_tokens: klSequenceTokens,
            batch: KL.batch,
            seconds: round(klSeconds, 3),
          },
        },
      };
    } finally {
      for (const m of models) m.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
