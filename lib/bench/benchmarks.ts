/** Every benchmark `itl bench` knows, in the order they run. Each stage adds its own here. */
import { analyzeBenchmark } from '../analyze/analyzeBenchmark.js';
import { tokenizeBenchmark } from '../tokenize/tokenizeBenchmark.js';
import { ddpBenchmark } from '../train/ddpBenchmark.js';
import { trainBenchmark } from '../train/trainBenchmark.js';
import { dataBenchmark } from '../data/dataBenchmark.js';
import type { Benchmark } from './Benchmark.js';
import { engineBenchmark, engineBf16Benchmark } from './engineBenchmark.js';
import { matmulBenchmark } from './matmulBenchmark.js';

export const benchmarks: Benchmark[] = [matmulBenchmark, analyzeBenchmark, dataBenchmark, tokenizeBenchmark, engineBenchmark, engineBf16Benchmark, trainBenchmark, ddpBenchmark];
