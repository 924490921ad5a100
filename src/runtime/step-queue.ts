/**
 * Asynchronous scheduling (ModelRunner.supportsAsyncScheduling) over a native model that takes
 * one step at a time: each step starts once the one before it has settled, in call order, and
 * its pending tokens (StepBatch.previousSampledRow) are taken from that step's samples on the
 * host just before it starts.
 */
import type { StepBatch, StepOutput } from './types.js';

export class StepQueue {
  /** The last step's output, null when it failed (or before the first step). */
  private last: Promise<StepOutput | null> = Promise.resolve(null);
  /** The same once it has settled; undefined while the last step is queued or running. */
  private lastSettled: StepOutput | null | undefined = null;

  run(batch: StepBatch, start: (batch: StepBatch) => Promise<StepOutput>): Promise<StepOutput> {
    const begin = (previous: StepOutput | null): Promise<StepOutput> => {
      fillPreviousSamples(batch, previous);
      return start(batch);
    };
    // NOTE: with nothing in flight the step starts inside this call, as a runner's execute()
    // always did (e.g. a step's late grammar masks are asked for at once).
    const previous = this.lastSettled;
    const step = previous === undefined ? this.last.then(begin) : startNow(begin, previous);
    this.lastSettled = undefined;
    const settle = (output: StepOutput | null): StepOutput | null => {
      if (this.last === last) this.lastSettled = output;
      return output;
    };
    const last: Promise<StepOutput | null> = step.then(settle, () => settle(null));
    this.last = last;
    return step;
  }
}

function startNow(begin: (previous: StepOutput | null) => Promise<StepOutput>, previous: StepOutput | null): Promise<StepOutput> {
  try {
    return begin(previous);
  } catch (error) {
    return Promise.reject(error);
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
