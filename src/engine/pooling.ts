/**
 * An embedding request's final hidden states pooled over its prompt as the steps compute them
 * (a prompt may take several chunked-prefill steps): the last prompt token's (Qwen3-Embedding,
 * decoder embedders in general) or the mean over every prompt token (sentence-transformers'
 * mean pooling). Normalising is the caller's choice (src/protocol/embeddings.ts).
 */
import type { PoolingMode } from '../model/pooling-config.js';

export class PooledHiddenState {
  private sum: Float32Array | null = null;

  constructor(
    readonly mode: PoolingMode,
    private readonly numPromptTokens: number,
  ) {}

  /** The prompt positions of [start, end) whose hidden states this pooling needs, as [from, to). */
  positionsWanted(start: number, end: number): [number, number] {
    const from = this.mode === 'mean' ? start : Math.max(start, this.numPromptTokens - 1);
    return [from, Math.min(end, this.numPromptTokens)];
  }

  /** Rows `firstRow..firstRow + numRows` of a step's hiddenStates ([rows * hiddenSize]). */
  add(states: Float32Array, firstRow: number, numRows: number, hiddenSize: number): void {
    const sum = (this.sum ??= new Float32Array(hiddenSize));
    for (let r = firstRow; r < firstRow + numRows; r++) {
      const row = states.subarray(r * hiddenSize, (r + 1) * hiddenSize);
      if (this.mode === 'last') sum.set(row);
      else for (let i = 0; i < hiddenSize; i++) sum[i] = (sum[i] as number) + (row[i] as number);
    }
  }

  /** A preempted request computes its prompt again from the start. */
  reset(): void {
    this.sum = null;
  }

  /** The pooled vector, once every prompt position was seen. */
  value(): Float32Array | null {
    if (this.sum === null || this.mode === 'last') return this.sum;
    return this.sum.map((x) => x / this.numPromptTokens);
  }
}
