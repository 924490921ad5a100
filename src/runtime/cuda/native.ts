/**
 * The whole native CUDA API (native/cuda/src/addon.cc), declared as types, and its loader.
 * The addon and the kernel image are optional build products (`make -C native/cuda`): a
 * machine without them, or without a GPU, gets a CudaUnavailableError saying which is missing.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../package-root.js';
import type { NativeTensor, Slot } from '../../model/layout.js';
import type { NativeLoraModule } from '../native-lora.js';
import type { NativeModelShape } from '../native-shape.js';
import type { StepBatch, StepOutput } from '../types.js';
import type { NativeLateTokenBitmask } from '../late-token-bitmask.js';

export interface NativeCudaModelConfig extends NativeModelShape {
  /** Largest step (tokens) and batch (sequences); sizes the scratch and the CUDA graph buckets. */
  maxNumTokens: number;
  maxNumSeqs: number;
  /** Longest context a sequence may reach (block tables are this long). */
  maxModelLen: number;
  /** Adapters resident at once (0: no LoRA memory, adapter rows rejected) and the largest rank. */
  maxLoras: number;
  maxLoraRank: number;
  /** Replay decode steps through CUDA graphs captured per batch-size bucket. */
  useCudaGraphs: boolean;
  /** CUDA device ordinals, one per tensor-parallel rank; the shape fields above are one rank's shard. */
  devices: Int32Array;
  /** Path of kernels.fatbin. */
  fatbinPath: string;
  /** This process's rank of a group of processes (one GPU in `devices`): its communicator comes from ncclCommInitRank, and constructing blocks until every rank has. */
  processGroup?: CudaProcessRank;
}

export interface CudaProcessRank {
  rank: number;
  size: number;
  /** From ncclUniqueId() on rank 0, the same bytes on every rank. */
  uniqueId: Uint8Array;
}

/** Random benchmark weights as int4 / int8 codes in groups of `groupSize` input columns (the embedding and lm_head stay bf16). */
export interface RandomIntFormat {
  bits: 4 | 8;
  groupSize: number;
}

export interface NativeCudaModel extends NativeLateTokenBitmask {
  /** Rank `rank`'s shard of one canonical tensor (MODEL_LAYER for a model-level slot), converted on its GPU. Throws `tensor <slot> of layer <n>: ...` on a wrong shape or format. */
  uploadTensor(rank: number, layer: number, slot: Slot, tensor: NativeTensor): void;
  /** Benchmark weights made on the GPUs: uniform matrices with std 0.02, unit norms; the layers' linear weights as random int codes when `format` says so. */
  initRandomWeights(seed: number, format?: RandomIntFormat): void;
  /** `bytes` (over all GPUs) if > 0, else what `utilization` of each card leaves after weights and scratch. Returns the block count, the same on every GPU. */
  allocateKvCache(bytes: number, utilization: number): number;
  /** One engine step, off the JS thread; rejects on a malformed batch. One step at a time. */
  /**
   * isTokenBitmaskLate: as NativeLateTokenBitmask. onWorker: a decode step replayed from a CUDA
   * graph runs on a worker thread too (by default it runs on the JS thread inside the call), so
   * the JS thread is free while it runs (asynchronous scheduling's steps launched ahead).
   */
  execute(batch: StepBatch, isTokenBitmaskLate?: boolean, onWorker?: boolean): Promise<StepOutput>;
  /** Checked at once; uploaded at once, or when the step in flight ends (a step never sees a change). */
  loadAdapter(slot: number, scale: number, modulesPerRank: NativeLoraModule[][]): void;
  unloadAdapter(slot: number): void;
  /** weightBytes: over all GPUs. */
  info(): { numKvBlocks: number; maxBlocksPerSeq: number; weightBytes: number };
  dispose(): void;
}

export interface CudaDeviceInfo {
  name: string;
  totalMemory: number;
  freeMemory: number;
  multiprocessors: number;
  computeCapability: string;
}

export interface NativeCudaAddon {
  /** '' when the driver, a device and cuBLASLt are usable; else why not. */
  probe(): string;
  /** Rank 0 of a group of processes makes it (ncclGetUniqueId) and sends it to the others. */
  ncclUniqueId(): Uint8Array;
  deviceInfo(ordinal: number): CudaDeviceInfo;
  deviceCount(): number;
  /** Device-to-device copy bandwidth in bytes/s (bytes read + bytes written). */
  measureCopyBandwidth(ordinal: number, bytes: number, iterations: number): number;
  /** bf16 GEMM FLOP/s of y[m, n] = x[m, k] @ w[n, k]^T through swiftlet's GEMM path (cuBLASLt, tuned). */
  measureGemmPeak(ordinal: number, fatbinPath: string, m: number, n: number, k: number, iterations: number): number;
  /**
   * One forward pass of a random [n, k] linear layer at `rows` activation rows (bits 0: bf16, else
   * int codes in groups of groupSize), through the layer's own kernels in a CUDA graph, with W
   * rotated over copies that do not fit in L2: seconds per pass and the bytes it must move.
   */
  measureLinearForward(
    ordinal: number,
    fatbinPath: string,
    bits: 0 | 4 | 8,
    groupSize: number,
    n: number,
    k: number,
    rows: number,
    iterations: number,
  ): { seconds: number; bytes: number };
  CudaModel: new (config: NativeCudaModelConfig) => NativeCudaModel;
}

export class CudaUnavailableError extends Error {
  override name = 'CudaUnavailableError';
}

export function cudaBuildDir(): string {
  return process.env.SWIFTLET_CUDA_BUILD ?? join(packageRoot(), 'native', 'cuda', 'build');
}

export function kernelImagePath(): string {
  return join(cudaBuildDir(), 'kernels.fatbin');
}

let cached: NativeCudaAddon | null = null;

/** Loads the addon and checks the GPU; throws CudaUnavailableError with the reason. */
export function loadCudaAddon(): NativeCudaAddon {
  if (cached) return cached;
  const addonPath = join(cudaBuildDir(), 'swiftlet_cuda.node');
  if (!existsSync(addonPath)) {
    throw new CudaUnavailableError(`CUDA support is not built (no ${addonPath}); build it with: make -C native/cuda`);
  }
  if (!existsSync(kernelImagePath())) {
    throw new CudaUnavailableError(`CUDA kernels are not built (no ${kernelImagePath()}); build them with: make -C native/cuda kernels`);
  }
  const addon = createRequire(import.meta.url)(addonPath) as NativeCudaAddon;
  const problem = addon.probe();
  if (problem !== '') throw new CudaUnavailableError(`CUDA is not usable here: ${problem}`);
  cached = addon;
  return addon;
}

/** Whether the CUDA runner can run here, and if not why (never throws). */
export function cudaAvailability(): { available: true } | { available: false; reason: string } {
  try {
    loadCudaAddon();
    return { available: true };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
