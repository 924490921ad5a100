/**
 * The runners' side of a step whose grammar masks come late (ModelRunner.executeWithLateBitmask):
 * both native addons start the step with execute(batch, true), block just before masking
 * the logits, and take the masks through supplyTokenBitmask (native/common/late_token_bitmask.h).
 */
import type { FillTokenBitmask, StepBatch, StepOutput, TokenBitmask } from './types.js';

/** What an addon offers for late masks. */
export interface NativeLateTokenBitmask {
  /** isTokenBitmaskLate: the step waits for supplyTokenBitmask or cancelTokenBitmask before it samples. */
  execute(batch: StepBatch, isTokenBitmaskLate?: boolean): Promise<StepOutput>;
  /** The running step's masks (null: none constrains); a mask that breaks the step's rules rejects the step. No-op after the step ended. */
  supplyTokenBitmask(mask: TokenBitmask | null): void;
  /** The running step rejects with `reason`. No-op after the step ended. */
  cancelTokenBitmask(reason: string): void;
}

export async function executeWithLateBitmask(native: NativeLateTokenBitmask, batch: StepBatch, fillMask: FillTokenBitmask): Promise<StepOutput> {
  const step = native.execute(batch, true);
  const settled = fillMask().then(
    (mask) => native.supplyTokenBitmask(mask),
    (error: unknown) => native.cancelTokenBitmask(`the step's grammar masks failed: ${error instanceof Error ? error.message : String(error)}`),
  );
  try {
    return await step;
  } finally {
    // NOTE: a step that failed before it waited for its masks must not leave them to the next step.
    await settled;
  }
}
