/** Every benchmark `itl bench` knows, in the order they run. Each stage adds its own here. */
import { analyzeBenchmark } from '../analyze/analyzeBenchmark.js';
import { tokenizeBenchmark } from '../tokenize/tokenizeBenchmark.js';
import { ddpBenchmark } from '../train/ddpBenchmark.js';
import { trainBenchmark } from '../train/trainBenchmark.js';
import { trainVocabBenchmark } from '../train/trainVocabBenchmark.js';
import { dataBenchmark } from '../data/dataBenchmark.js';
import { evalBenchmark } from '../eval/evalBenchmark.js';
import type { Benchmark } from './Benchmark.js';
import { engineBenchmark, engineBf16Benchmark } from './engineBenchmark.js';
import { matmulBenchmark } from './matmulBenchmark.js';

export const benchmarks: Benchmark[] = [
  matmulBenchmark,
  analyzeBenchmark,
  dataBenchmark,
  tokenizeBenchmark,
  engineBenchmark,
  engineBf16Benchmark,
  trainBenchmark,
  trainVocabBenchmark,
  ddpBenchmark,
  evalBenchmark,
];
