/**
 * Loading the native addon (`itl_native.node`) and its exact TypeScript types. Everything heavy
 * the addon does returns a Promise and runs off the event loop; this file adds no behaviour, only
 * types, the search for the built file and the mapping of native errors onto ItlError.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ItlError, asItlError } from '../errors.js';
import type { NativeModelApi } from './Model.js';
import type { NativeTrainerApi } from './Trainer.js';

export interface Progress {
  phase: string;
  done: number;
  total: number;
  value: number;
  /** A JSON object with the event's details (a training step's metrics-log line), when it has one. */
  record?: string;
}
export type ProgressCallback = (progress: Progress) => void;

export interface BlasInfo {
  name: string;
  path: string;
  config: string;
  threading: string;
}
export interface ThreadCounts {
  torchIntraOp: number;
  torchInterOp: number;
  /** Threads one BLAS call uses; -1 when the BLAS cannot be asked. */
  blas: number;
  /** The BLAS runs a pool of its own beside libtorch's (OpenBLAS); false: it runs on libtorch's (MKL). */
  blasOwnThreads: boolean;
  hardware: number;
  /** Threads itl's own CPU loops (fused RMSNorm, RoPE) ran on: torchIntraOp, or 1 in an addon built without OpenMP. */
  itlKernels: number;
}
export interface SystemInfo {
  torchVersion: string;
  torchVersionMajor: number;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  mklAvailable: boolean;
  openmpAvailable: boolean;
  blas: BlasInfo;
  threads: ThreadCounts;
  parallelInfo: string;
}
export interface ThreadPolicy {
  /** libtorch intra-op threads; 0: one beside a BLAS with its own threads (OpenBLAS), else all. */
  torchThreads?: number;
  /** BLAS threads per matmul; 0 means one per hardware thread. Only OpenBLAS can differ from torchThreads. */
  blasThreads?: number;
}
export interface MatmulOptions {
  size?: number;
  minSeconds?: number;
  device?: string;
  dtype?: 'fp32' | 'bf16' | 'fp16';
}
export interface MatmulResult {
  gflops: number;
  size: number;
  iterations: number;
  seconds: number;
  device: string;
  dtype: string;
}

/** native/addon/addon_abort.h: raised from JS, seen by the native calls it was given to. */
export interface AbortFlag {
  abort(): void;
  reset(): void;
  readonly aborted: boolean;
}

/** The addon's calling conventions this file's types describe: native/addon/addon.cpp's kAbiVersion. */
export const ADDON_ABI_VERSION = 2;

/** The raw addon, exactly as native/addon exports it. */
export interface NativeAddon extends NativeModelApi, NativeTrainerApi {
  abiVersion: number;
  createAbortFlag(): AbortFlag;
  systemInfo(): SystemInfo;
  configureThreads(policy: ThreadPolicy): ThreadCounts;
  benchMatmul(options: MatmulOptions, onProgress?: ProgressCallback): Promise<MatmulResult>;
  /** prctl(PR_SET_PDEATHSIG, signal), then whether the parent is still `parentPid` (native/core/system/parent_death.h). */
  watchParent(signal: number, parentPid: number): 'armed' | 'parent-gone' | 'unsupported';
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the addon is looked for, in order: $ITL_ADDON, the cmake-js build, the node-gyp build. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const candidates = [
    join(packageRoot, 'build-cmake', 'Release', 'itl_native.node'),
    join(packageRoot, 'build', 'Release', 'itl_native.node'),
  ];
  return env.ITL_ADDON ? [resolve(env.ITL_ADDON)] : candidates;
}

/**
 * Loads the addon (Runtime.open does, once per command). Throws ITL_NATIVE_MISSING with the paths it
 * tried, or when the file was built from other sources than these types (its ABI version differs).
 */
export function loadAddon(env: NodeJS.ProcessEnv = process.env): { path: string; addon: NativeAddon } {
  const candidates = addonCandidates(env);
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new ItlError('ITL_NATIVE_MISSING', `the native addon is not built: run \`npm run build\` (looked for ${candidates.join(', ')})`);
  }
  const require = createRequire(import.meta.url);
  let addon: NativeAddon;
  try {
    addon = require(path) as NativeAddon;
  } catch (error) {
    throw new ItlError('ITL_NATIVE_MISSING', `cannot load the native addon ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (addon.abiVersion !== ADDON_ABI_VERSION) {
    throw new ItlError(
      'ITL_NATIVE_MISSING',
      `the native addon ${path} has ABI version ${String(addon.abiVersion)} but this itl needs ` +
        `${ADDON_ABI_VERSION}: it was built from other sources; run \`npm run build\``,
    );
  }
  return { path, addon };
}

/** Awaits a native Promise, turning its rejection into an ItlError that keeps the native code. */
export async function nativeCall<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw asItlError(error);
  }
}
