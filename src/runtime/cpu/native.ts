/**
 * The whole native CPU API (native/cpu/addon.cc), declared as types, and its loader.
 * One JS handle class (`CpuModel`) over one C++ model; `execute` runs off the JS thread.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { NativeTensor, Slot } from '../../model/layout.js';
import type { NativeLoraModule } from '../native-lora.js';
import { packageRoot } from '../../package-root.js';
import type { NativeModelShape } from '../native-shape.js';
import type { StepBatch, StepOutput } from '../types.js';
import type { NativeLateTokenBitmask } from '../late-token-bitmask.js';

export interface NativeModelConfig extends NativeModelShape {
  /** Tokens per forward chunk (sizes the scratch); a longer step runs as consecutive chunks. */
  maxTokensPerChunk: number;
  numKvBlocks: number;
  maxLoras: number;
  maxLoraRank: number;
  /** 0 = every core. */
  numThreads: number;
  /** A tensor-parallel shard (src/runtime/tensor-parallel.ts): its rank of shardCount; absent: the whole model. */
  shardRank?: number;
  shardCount?: number;
  /** 8 or 4: the lm_head quantized at load (src/runtime/lm-head-dtype.ts); absent or 0: as stored. */
  lmHeadBits?: 0 | 8 | 4;
}

export interface NativeCpuModel extends NativeLateTokenBitmask {
  /** One canonical tensor (MODEL_LAYER for a model-level slot); converted to the kernel layout, then the buffers may be dropped. Throws `tensor <slot> of layer <n>: ...` on a wrong shape or format. */
  setTensor(layer: number, slot: Slot, tensor: NativeTensor): void;
  /** Throws naming the first slot never set. */
  finishLoading(): void;
  /** One engine step; rejects (and writes nothing) on a malformed batch. One step at a time. */
  execute(batch: StepBatch, isTokenBitmaskLate?: boolean): Promise<StepOutput>;
  /** Takes effect at once, or after the step in flight. */
  loadAdapter(slot: number, scale: number, modules: NativeLoraModule[]): void;
  unloadAdapter(slot: number): void;
  /** Frees weights and KV cache (after the step in flight, if any). */
  dispose(): void;
  kvCacheBytes(): number;
  /** Calibration: every later step adds X^T X of `layer`'s linear inputs to sums that start at zero (-1: off). Not during a step. */
  captureInputGrams(layer: number): void;
  /** The sums so far, each [width, width] row-major, and the tokens they cover. Not during a step. */
  inputGrams(): LinearInputGrams;
  /** A shard's collective (native/cpu/tcp_group.h), rank 0: listens on `port` (0: any) and returns it. */
  listenGroup(port: number): number;
  /** Rank 0: takes every other rank's connection; throws after `timeoutMs`. Blocks the JS thread: call it once they have connected. */
  acceptGroup(timeoutMs: number): void;
  /** Rank > 0: connects to rank 0's group port, retrying for `timeoutMs`. Blocks the JS thread meanwhile. */
  connectGroup(host: string, port: number, timeoutMs: number): void;
}

/** Sums of X^T X over the rows fed to one layer's linear slots (GPTQ's Hessians are 2 / rows times them). */
export interface LinearInputGrams {
  rows: number;
  qkv: Float64Array;
  o: Float64Array;
  gateUp: Float64Array;
  down: Float64Array;
}

export interface NativeCpuAddon {
  CpuModel: new (config: NativeModelConfig) => NativeCpuModel;
}

const ADDON_FILE = join('build', 'Release', 'swiftlet_cpu.node');

/** The addon node-gyp built into the package's build/ on `npm install`. */
function findAddonPath(): string {
  const path = join(packageRoot(), ADDON_FILE);
  if (!existsSync(path)) throw new Error(`CPU runtime not built: no ${path} (run npm install or npm run build)`);
  return path;
}

let cached: NativeCpuAddon | undefined;

export function loadCpuAddon(): NativeCpuAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(findAddonPath()) as NativeCpuAddon;
  }
  return cached;
}
