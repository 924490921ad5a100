/**
 * Runs the same requests through an engine with and without asynchronous scheduling, for tests
 * that check the two give the same outputs, and counts the steps that really ran ahead.
 */
import assert from 'node:assert/strict';
import type { AddRequest, LLMEngine } from '../../src/engine/engine.js';
import type { RequestOutput } from '../../src/engine/output.js';
import type { ModelRunner, StepBatch } from '../../src/runtime/types.js';

/** What must not depend on the scheduling mode (not e.g. cached-token counts, which depend on step timing). */
export function comparable(output: RequestOutput) {
  return { requestId: output.requestId, outputs: output.outputs, promptLogprobs: output.promptLogprobs, finished: output.finished };
}

/** `runner` with execute() counting the steps that took tokens from the step before them. */
export function countingRunner(runner: ModelRunner): { runner: ModelRunner; numStepsAhead: () => number } {
  let count = 0;
  const counting = Object.create(runner) as ModelRunner;
  counting.execute = (batch: StepBatch) => {
    if (batch.previousSampledRow) count++;
    return runner.execute(batch);
  };
  return { runner: counting, numStepsAhead: () => count };
}

export interface ModeRun {
  outputs: ReturnType<typeof comparable>[];
  engine: LLMEngine;
  numStepsAhead: number;
}

/** `makeEngine(runner, asyncScheduling)` builds a fresh engine over the counting runner. */
export async function runBothModes(
  runner: ModelRunner,
  makeEngine: (runner: ModelRunner, asyncScheduling: boolean) => LLMEngine,
  requests: readonly AddRequest[],
): Promise<{ sync: ModeRun; ahead: ModeRun }> {
  const runs: ModeRun[] = [];
  for (const asyncScheduling of [false, true]) {
    const counting = countingRunner(runner);
    const engine = makeEngine(counting.runner, asyncScheduling);
    const outputs = await engine.generate(requests);
    assert.equal(engine.stats().numKvBlocksUsed, 0, 'every block back in the pool');
    runs.push({ outputs: outputs.map(comparable), engine, numStepsAhead: counting.numStepsAhead() });
  }
  const [sync, ahead] = runs as [ModeRun, ModeRun];
  assert.equal(sync.numStepsAhead, 0);
  return { sync, ahead };
}
