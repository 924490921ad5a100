/**
 * GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
 * Transformers", 2022) for one weight matrix. Columns are quantized one at a time on the grid of
 * their group (rtn.ts's rules, the group's parameters taken from the columns as they stand when
 * the group starts); each column's rounding error, divided by the pivot of the upper Cholesky
 * factor U of the damped inverse Hessian, is subtracted from the columns not yet quantized along
 * U's row, so that the layer's output on the calibration inputs (H = 2 X^T X / n) moves least.
 * Act-order: columns in order of decreasing H diagonal (the most active inputs first); groups
 * then follow that order and g_idx names each column's group.
 */
import { groupParams, quantizeValue, type GroupParams, type QuantGrid } from './rtn.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';

export interface GptqOptions {
  /** Added to H's diagonal, as a fraction of its mean (AutoGPTQ's damp_percent, default 0.01). */
  dampPercent: number;
  actOrder: boolean;
}

/** Lower Cholesky factor of the symmetric positive definite [n, n] `a`, in place (the upper triangle is zeroed). */
function choleskyLower(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let pivot = a[j * n + j]!;
    for (let k = 0; k < j; k++) pivot -= a[j * n + k]! ** 2;
    if (!(pivot > 0)) throw new Error(`GPTQ: the damped Hessian is not positive definite at column ${j} (raise the damping)`);
    const root = Math.sqrt(pivot);
    a[j * n + j] = root;
    for (let i = j + 1; i < n; i++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = sum / root;
    }
    for (let k = j + 1; k < n; k++) a[j * n + k] = 0;
  }
}

/** The inverse of L L^T for a lower triangular L: (L^-1)^T L^-1. */
function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n); // L^-1, lower triangular
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let sum = 0;
      for (let k = j; k < i; k++) sum -= l[i * n + k]! * inv[k * n + j]!;
      inv[i * n + j] = sum / l[i * n + i]!;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < n; k++) sum += inv[k * n + i]! * inv[k * n + j]!;
      out[i * n + j] = sum;
      out[j * n + i] = sum;
    }
  }
  return out;
}

/** U with U^T U = the inverse of the damped `hessian` (both [n, n], in the columns' quantization order). */
function inverseCholeskyUpper(hessian: Float64Array, n: number): Float64Array {
  const l = Float64Array.from(hessian);
  choleskyLower(l, n);
  const inverse = inverseFromCholesky(l, n);
  choleskyLower(inverse, n);
  const upper = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) upper[i * n + j] = inverse[j * n + i]!;
  return upper;
}

/**
 * `weights` [outputs, inputs] quantized by GPTQ against `hessian` [inputs, inputs] (2 X^T X / n of
 * the calibration inputs, X: [n, inputs]).
 */
export function quantizeGptq(
  weights: Float32Array,
  [outputs, inputs]: [number, number],
  hessian: Float64Array,
  grid: QuantGrid,
  options: GptqOptions,
): QuantizedTensor {
  const n = inputs;
  const groupSize = grid.groupSize ?? inputs;
  const diagonal = Array.from({ length: n }, (_, i) => hessian[i * n + i]!);
  // NOTE: an input never seen in calibration (diagonal 0) has no say: its weights are dropped, as AutoGPTQ does.
  const dead = diagonal.map((d) => d === 0);
  const order = Array.from({ length: n }, (_, i) => i);
  if (options.actOrder) order.sort((a, b) => diagonal[b]! - diagonal[a]! || a - b);

  const h = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) h[a * n + b] = hessian[order[a]! * n + order[b]!]!;
  const live = diagonal.filter((_, i) => !dead[i]);
  const damp = options.dampPercent * (live.length ? live.reduce((s, d) => s + d, 0) / live.length : 1);
  for (let a = 0; a < n; a++) h[a * n + a] = (dead[order[a]!] ? 1 : h[a * n + a]!) + damp;
  const u = inverseCholeskyUpper(h, n);

  // The rows in quantization order, updated as the error feedback goes.
  const w = new Float64Array(outputs * n);
  for (let r = 0; r < outputs; r++) for (let a = 0; a < n; a++) w[r * n + a] = dead[order[a]!] ? 0 : weights[r * inputs + order[a]!]!;

  const numGroupsOut = Math.ceil(n / groupSize);
  const tensor: QuantizedTensor = {
    bits: grid.bits, shape: [outputs, inputs], groupSize,
    codes: new Uint8Array(outputs * inputs), scales: new Float32Array(outputs * numGroupsOut), zeros: new Float32Array(outputs * numGroupsOut),
  };
  if (options.actOrder) tensor.gIdx = Int32Array.from({ length: n }, () => 0);
  const params: GroupParams[] = new Array<GroupParams>(outputs);
  for (let a = 0; a < n; a++) {
    const group = Math.floor(a / groupSize);
    if (a % groupSize === 0) {
      const end = Math.min(a + groupSize, n);
      for (let r = 0; r < outputs; r++) {
        params[r] = groupParams(w.subarray(r * n + a, r * n + end), grid.bits, grid.sym);
        tensor.scales[r * numGroupsOut + group] = params[r]!.scale;
        tensor.zeros[r * numGroupsOut + group] = params[r]!.zero;
      }
    }
    if (tensor.gIdx) tensor.gIdx[order[a]!] = group;
    const pivot = u[a * n + a]!;
    for (let r = 0; r < outputs; r++) {
      const row = r * n;
      const value = w[row + a]!;
      const code = quantizeValue(value, params[r]!, grid.bits);
      tensor.codes[r * inputs + order[a]!] = code;
      const error = (value - params[r]!.scale * (code - params[r]!.zero)) / pivot;
      for (let b = a + 1; b < n; b++) w[row + b] = w[row + b]! - error * u[a * n + b]!;
    }
  }
  return tensor;
}
