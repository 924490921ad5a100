/**
 * Everything that says how a model is loaded and run, and the defaults every entry point
 * shares (the CLI's flags and the library's Engine.load), so they cannot drift apart.
 */
import type { SpeculativeConfig } from '../engine/speculative/config.js';
import type { PoolingMode } from '../model/pooling-config.js';
import type { HubName } from '../model/hub/backend.js';
import type { GroupOptions } from '../runtime/distributed/group-options.js';
import type { LmHeadDtype } from '../runtime/lm-head-dtype.js';

export interface ModelOptions {
  model: string | undefined;
  /** Where a hub id or model type is downloaded from (`--use_hf`); default from `USE_HF`. */
  hub?: HubName;
  servedModelName: string | undefined;
  loraModules: { name: string; path: string }[];
  /** Reserve GPU adapter slots even without --lora-modules (vLLM's --enable-lora). */
  enableLora?: boolean;
  maxLoras: number;
  maxLoraRank: number;
  maxModelLen: number | undefined;
  device: 'cpu' | 'cuda' | 'auto';
  tensorParallelSize: number;
  /** Tensor parallelism over processes (`--nnodes`, `--node-rank`, `--master-addr`, `--master-port`); absent: one process. */
  group?: GroupOptions;
  /** Engine replicas, each a child process on its own CPU threads or GPUs (see host/replicas/); default 1: one engine in this process. */
  dataParallelSize?: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  kvCacheBytes: number | undefined;
  gpuMemoryUtilization: number;
  enablePrefixCaching: boolean;
  enableChunkedPrefill: boolean;
  longPrefillTokenThreshold?: number;
  useGenerationConfig: boolean;
  chatTemplate: string | undefined;
  numThreads: number | undefined;
  /** CPU: the lm_head's dtype for the logits (`--lm-head-dtype`); default 'auto': as stored. */
  lmHeadDtype?: LmHeadDtype;
  maxWaiting: number;
  /** Prompt-lookup speculative decoding (`--speculative-config`); absent or null: off. */
  speculativeConfig?: SpeculativeConfig | null;
  /** Launch each step before the previous one's output is back (`--async-scheduling`); absent: off. */
  asyncScheduling?: boolean;
  /** How /v1/embeddings pools (`--pooling`); default: the checkpoint's sentence-transformers config, else the last token. */
  pooling?: PoolingMode;
}

/** Defaults of every option a caller may leave out. */
export const DEFAULT_MODEL_OPTIONS = {
  maxLoras: 4,
  maxLoraRank: 64,
  device: 'auto',
  tensorParallelSize: 1,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 2048,
  gpuMemoryUtilization: 0.9,
  enablePrefixCaching: true,
  enableChunkedPrefill: true,
  useGenerationConfig: true,
  maxWaiting: 1024,
} as const satisfies Partial<ModelOptions>;

export class SizeError extends Error {
  override name = 'SizeError';
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, kb: 1e3, mb: 1e6, gb: 1e9 };

export function parseBytes(text: string): number {
  const match = /^\s*([\d.]+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new SizeError(`cannot read "${text}" as a size (e.g. 512MiB, 2GiB)`);
  return Math.floor(Number(match[1]) * unit);
}
