/**
 * AWQ's scale search (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM Compression
 * and Acceleration", 2023; AutoAWQ's `_search_best_scale`) for the linears that read one input:
 * input column c is multiplied by s_c in the weights (and divided by it in whatever produces the
 * input, awq-calibration.ts folds it there), so the columns the activations lean on get more of
 * the quantization grid. s = a^r / w^(1-r) over a grid of r in [0, 1), where a is the input's
 * magnitude per column and w the weights' (each |w| relative to its group's largest, averaged
 * over rows), normalised to a geometric mean of one; the s whose quantized weights change the
 * output least on the calibration inputs wins (s = 1, plain round-to-nearest, is a candidate).
 *
 * The output error of W' against W on inputs X is sum over rows of d^T (X^T X) d with d = W'_row
 * - W_row, so the search needs only the same sums X^T X that GPTQ's Hessian is made of; for the
 * same reason a is the root mean square of each input column (AutoAWQ: its mean |x|).
 */
import { dequantize } from '../weight-formats/quantized.js';
import { quantizeRtn, type QuantGrid } from './rtn.js';

export interface AwqLinear {
  /** [outputs, inputs] row-major. */
  weights: Float32Array;
  outputs: number;
}

export interface AwqSearchInput {
  /** The linears that read the input (q, k, v; gate, up), the same width each. */
  linears: readonly AwqLinear[];
  inputs: number;
  /** Sum over the calibration rows of x x^T, [inputs, inputs]. */
  gram: Float64Array;
  rows: number;
}

/** AutoAWQ's grid: r = 0, 1/20, ..., 19/20. */
const GRID_STEPS = 20;
/** Output rows per linear the error is measured on (evenly spread): the search's cost is rows x inputs^2 per candidate. */
const SEARCH_ROWS = 128;
const MIN_SCALE = 1e-4;

/** Each input column's root mean square on the calibration rows. */
function activationMagnitude({ gram, inputs, rows }: AwqSearchInput): Float64Array {
  return Float64Array.from({ length: inputs }, (_, c) => Math.sqrt(Math.max(gram[c * inputs + c]!, 0) / Math.max(rows, 1)));
}

/** Each input column's mean over all rows of |w| / (the largest |w| of its row's group). */
function weightMagnitude({ linears, inputs }: AwqSearchInput, groupSize: number): Float64Array {
  const sums = new Float64Array(inputs);
  let rows = 0;
  for (const { weights, outputs } of linears) {
    for (let o = 0; o < outputs; o++) {
      for (let start = 0; start < inputs; start += groupSize) {
        const end = Math.min(start + groupSize, inputs);
        let max = 0;
        for (let c = start; c < end; c++) max = Math.max(max, Math.abs(weights[o * inputs + c]!));
        for (let c = start; c < end; c++) sums[c]! += max > 0 ? Math.abs(weights[o * inputs + c]!) / max : 0;
      }
    }
    rows += outputs;
  }
  return sums.map((s) => s / Math.max(rows, 1));
}

function candidateScales(a: Float64Array, w: Float64Array, ratio: number): Float32Array {
  const s = a.map((ac, c) => Math.max(ac ** ratio / (w[c]! ** (1 - ratio) + MIN_SCALE), MIN_SCALE));
  let [lo, hi] = [Infinity, 0];
  for (const v of s) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const norm = Math.sqrt(lo * hi);
  return Float32Array.from(s, (v) => v / norm);
}

/** The rows of one linear the search measures, gathered [rows.length, inputs]. */
interface SampledLinear {
  weights: Float32Array;
  rows: number;
  /** outputs / rows: the sample's error stands for the whole linear's. */
  weight: number;
}

function sampleRows({ weights, outputs }: AwqLinear, inputs: number): SampledLinear {
  const count = Math.min(outputs, SEARCH_ROWS);
  const sample = new Float32Array(count * inputs);
  for (let i = 0; i < count; i++) {
    const row = Math.floor((i * outputs) / count);
    sample.set(weights.subarray(row * inputs, (row + 1) * inputs), i * inputs);
  }
  return { weights: sample, rows: count, weight: outputs / count };
}

/** sum over rows of d^T G d, d = the rows quantized at column scales s (then unscaled) minus the rows. */
function outputError(linear: SampledLinear, s: Float32Array, { gram, inputs }: AwqSearchInput, grid: QuantGrid): number {
  const scaled = linear.weights.map((v, i) => v * s[i % inputs]!);
  const quantized = dequantize(quantizeRtn(scaled, [linear.rows, inputs], grid));
  const d = new Float64Array(inputs);
  let error = 0;
  for (let r = 0; r < linear.rows; r++) {
    for (let c = 0; c < inputs; c++) d[c] = quantized[r * inputs + c]! / s[c]! - linear.weights[r * inputs + c]!;
    for (let i = 0; i < inputs; i++) {
      if (d[i] === 0) continue;
      let gd = 0;
      const row = i * inputs;
      for (let j = 0; j < inputs; j++) gd += gram[row + j]! * d[j]!;
      error += d[i]! * gd;
    }
  }
  return error * linear.weight;
}

/** The per-input-column scales that quantize `input.linears` with the least output error on the calibration inputs. */
export function searchAwqScales(input: AwqSearchInput, grid: QuantGrid): Float32Array {
  const a = activationMagnitude(input);
  const w = weightMagnitude(input, grid.groupSize ?? input.inputs);
  const sampled = input.linears.map((linear) => sampleRows(linear, input.inputs));
  const errorOf = (s: Float32Array): number => sampled.reduce((sum, linear) => sum + outputError(linear, s, input, grid), 0);
  let best: Float32Array = new Float32Array(input.inputs).fill(1);
  let bestError = errorOf(best);
  for (let step = 0; step < GRID_STEPS; step++) {
    const s = candidateScales(a, w, step / GRID_STEPS);
    const error = errorOf(s);
    if (error < bestError) [best, bestError] = [s, error];
  }
  return best;
}
