/**
 * The exit status of the commands that answer a whole file (`run-batch`, `infer --dataset`),
 * one policy for both:
 *   0    every line was answered (its result has `error: null`);
 *   1    the file ran, but at least one line failed (its result carries the error);
 *        or the run could not go on (an output write failed, the model did not load);
 *   2    a usage mistake, found before the model loaded (bad flag, unusable input or output);
 *   130  interrupted by SIGINT, 143 by SIGTERM: every result finished so far is kept.
 */
export const EXIT_OK = 0;
export const EXIT_LINES_FAILED = 1;
export const EXIT_USAGE = 2;

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

const SIGNAL_NUMBERS: Record<InterruptSignal, number> = { SIGINT: 2, SIGTERM: 15 };

export interface FileRunOutcome {
  numFailed: number;
  interruptedBy: InterruptSignal | null;
}

export function fileRunExitStatus(outcome: FileRunOutcome): number {
  if (outcome.interruptedBy !== null) return 128 + SIGNAL_NUMBERS[outcome.interruptedBy];
  return outcome.numFailed === 0 ? EXIT_OK : EXIT_LINES_FAILED;
}
