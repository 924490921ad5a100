/**
 * Which steps asynchronous scheduling may launch while the step before them is still running.
 * That next step is scheduled and built before the engine has seen the tokens the running step
 * samples, so anything that reads those tokens on the host first makes the engine fall back to
 * the one-step-at-a-time loop for that step:
 * - speculative decoding: drafts are proposed from the sequence's latest tokens;
 * - structured outputs: a grammar's next mask depends on the token just sampled (any sequence
 *   with a grammar in the engine turns run-ahead off while it is there);
 * - repetition, presence and frequency penalties: the batch carries the output history;
 * - embeddings (pooling requests), kept out for simplicity: they end after their prompt.
 * Preemption never happens in a step launched ahead (Scheduler.schedule(false)): a step that
 * would need it is not launched ahead, and the next one-at-a-time step preempts as usual.
 */
import type { ScheduledSequence } from './scheduler.js';

/** `running`: the step in flight, whose sampled sequences' tokens are not yet known. */
export function canRunAhead(running: readonly ScheduledSequence[], isSpeculative: boolean, hasConstrained: boolean): boolean {
  if (isSpeculative || hasConstrained) return false;
  for (const { request, doSample } of running) {
    if (!doSample || request.isFinished) continue;
    if (request.params.hasPenalties || request.pooled !== null) return false;
  }
  return true;
}
