/**
 * Asynchronous scheduling (ModelRunner.supportsAsyncScheduling) over a native model that takes
 * one step at a time: each step starts once the one before it has settled, in call order, and
 * its pending tokens (StepBatch.previousSampledRow) are taken from that step's samples on the
 * host just before it starts.
 */
import type { StepBatch, StepOutput } from './types.js';

export class StepQueue {
  /** The last step's output; null when it failed (or before the first step). */
  private last: Promise<StepOutput | null> = Promise.resolve(null);

  run(batch: StepBatch, start: (batch: StepBatch) => Promise<StepOutput>): Promise<StepOutput> {
    const step = this.last.then((previous) => {
      fillPreviousSamples(batch, previous);
      return start(batch);
    });
    this.last = step.then(
      (output) => output,
      () => null,
    );
    return step;
  }
}

/** Writes each pending token into batch.tokenIds; throws when `previous` lacks one. */
export function fillPreviousSamples(batch: StepBatch, previous: StepOutput | null): void {
  const rows = batch.previousSampledRow;
  if (rows === undefined || rows === null) return;
  for (let s = 0; s < batch.numSeqs; s++) {
    const row = rows[s] as number;
    if (row < 0) continue;
    const tokenId = previous?.sampledTokenIds[row];
    if (tokenId === undefined || tokenId < 0) {
      throw new Error(`sequence ${s} takes its first token from row ${row} of the previous step, which ${previous === null ? 'failed' : 'sampled none there'}`);
    }
    batch.tokenIds[batch.queryStart[s] as number] = tokenId;
  }
}
