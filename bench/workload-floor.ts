/**
 * The hardware floor of a benchmark workload: the least time any implementation could take on a
 * card with a given bf16 GEMM peak and copy bandwidth, both measured in the same call as the
 * figure they judge (bench/gpu-bench.ts). bf16 weights and KV cache.
 *  - A prefill costs its FLOPs at the GEMM peak (every linear layer and causal attention).
 *  - A decode step costs the longer of: reading every weight once plus each sequence's KV at
 *    copy bandwidth, and its FLOPs at the GEMM peak (the reads win for the shapes measured).
 * With tensor parallelism the floor is rank 0's: its share of each layer and of the KV cache,
 * and the whole lm_head (rank 0 computes the logits).
 */
import type { ModelSpec } from '../src/model/spec.js';

export type FloorShape = Pick<ModelSpec, 'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim'>;

export interface DevicePeaks {
  gemmFlopsPerSecond: number;
  /** Bytes read plus bytes written per second of a device-to-device copy. */
  copyBytesPerSecond: number;
}

export interface Workload {
  requests: number;
  promptLen: number;
  /** New tokens per request: the first comes from the prefill, the other genLen - 1 from decode steps. */
  genLen: number;
}

const BF16_BYTES = 2;

/** Weights of the decoder layers (q/k/v, o, gate/up, down), per rank. */
function layerParams(shape: FloorShape, tensorParallelSize: number): number {
  const { hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim } = shape;
  const perLayer = h * (numHeads + 2 * numKvHeads) * headDim + numHeads * headDim * h + 3 * h * i;
  return (shape.numLayers * perLayer) / tensorParallelSize;
}

function lmHeadParams(shape: FloorShape): number {
  return shape.vocabSize * shape.hiddenSize;
}

/** K and V of one token in every layer, per rank. */
export function kvBytesPerToken(shape: FloorShape, tensorParallelSize = 1): number {
  return (shape.numLayers * 2 * shape.numKvHeads * shape.headDim * BF16_BYTES) / tensorParallelSize;
}

/** What one decode step reads from weights: every matrix once (the embedding table only as the tied lm_head). */
export function weightBytesPerDecodeStep(shape: FloorShape, tensorParallelSize = 1): number {
  return (layerParams(shape, tensorParallelSize) + lmHeadParams(shape)) * BF16_BYTES;
}

/** Q.K and P.V over `numContext` positions, all layers and heads of a rank. */
function attentionFlops(shape: FloorShape, numContext: number, tensorParallelSize: number): number {
  return (shape.numLayers * 4 * shape.numHeads * shape.headDim * numContext) / tensorParallelSize;
}

/** Seconds of one decode step in which each sequence's new token attends to `contextLens[s]` positions. */
export function decodeStepFloorSeconds(shape: FloorShape, peaks: DevicePeaks, contextLens: readonly number[], tensorParallelSize = 1): number {
  let numContext = 0;
  for (const length of contextLens) numContext += length;
  const bytes = weightBytesPerDecodeStep(shape, tensorParallelSize) + kvBytesPerToken(shape, tensorParallelSize) * numContext;
  const flops =
    2 * (layerParams(shape, tensorParallelSize) + lmHeadParams(shape)) * contextLens.length + attentionFlops(shape, numContext, tensorParallelSize);
  return Math.max(bytes / peaks.copyBytesPerSecond, flops / peaks.gemmFlopsPerSecond);
}

/** One prompt's FLOPs: every layer for each token, causal attention, the lm_head for the last token only. */
export function prefillFlops(shape: FloorShape, promptLen: number, tensorParallelSize = 1): number {
  const attended = (promptLen * (promptLen + 1)) / 2;
  return 2 * layerParams(shape, tensorParallelSize) * promptLen + attentionFlops(shape, attended, tensorParallelSize) + 2 * lmHeadParams(shape);
}

export interface WorkloadFloor {
  prefillSeconds: number;
  decodeSeconds: number;
  totalSeconds: number;
  /** The mean decode step, i.e. the batch-1 roofline per token when requests is 1. */
  decodeMsPerStep: number;
}

/** All prompts at the GEMM peak, then genLen - 1 decode steps of every request together. */
export function workloadFloor(shape: FloorShape, peaks: DevicePeaks, workload: Workload, tensorParallelSize = 1): WorkloadFloor {
  const { requests, promptLen, genLen } = workload;
  const prefillSeconds = (requests * prefillFlops(shape, promptLen, tensorParallelSize)) / peaks.gemmFlopsPerSecond;
  let decodeSeconds = 0;
  for (let step = 1; step < genLen; step++) {
    const contextLens = new Array<number>(requests).fill(promptLen + step);
    decodeSeconds += decodeStepFloorSeconds(shape, peaks, contextLens, tensorParallelSize);
  }
  const numSteps = Math.max(genLen - 1, 1);
  return { prefillSeconds, decodeSeconds, totalSeconds: prefillSeconds + decodeSeconds, decodeMsPerStep: (decodeSeconds / numSteps) * 1e3 };
}
