/** The model description both native runners take: the ModelSpec switches plus precomputed rope. */
import { ropeTables } from '../model/rope.js';
import type { ModelSpec } from '../model/spec.js';

export interface NativeModelShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  /** [rotaryDim / 2] inverse frequencies (rope scaling already applied). */
  invFreq: Float32Array;
  /** Multiplies cos and sin. */
  attentionScale: number;
  rotaryDim: number;
  /** Rotary pairs (x[2i], x[2i+1]) instead of (x[i], x[i + rotaryDim / 2]). */
  ropeInterleaved: boolean;
  /** Queries at positions >= this are scaled by log(position + 1) / log(this); 0: never. */
  lognAttnContext: number;
  /** Every step carries each sequence's inverse frequencies (StepBatch.ropeInvFreq); invFreq is then unused. */
  perSequenceRope: boolean;
}

export function nativeModelShape(spec: ModelSpec): NativeModelShape {
  const rope = ropeTables(spec);
  return {
    vocabSize: spec.vocabSize,
    hiddenSize: spec.hiddenSize,
    intermediateSize: spec.intermediateSize,
    numLayers: spec.numLayers,
    numHeads: spec.numHeads,
    numKvHeads: spec.numKvHeads,
    headDim: spec.headDim,
    rmsNormEps: spec.rmsNormEps,
    tieWordEmbeddings: spec.tieWordEmbeddings,
    qkvBias: spec.qkvBias,
    oBias: spec.oBias,
    mlpBias: spec.mlpBias,
    qkNorm: spec.qkNorm,
    invFreq: rope.invFreq,
    attentionScale: rope.attentionScale,
    rotaryDim: rope.rotaryDim,
    ropeInterleaved: spec.rope.interleaved === true,
    lognAttnContext: spec.lognAttnContext ?? 0,
    perSequenceRope: spec.rope.dynamicNtkContext !== undefined,
  };
}
