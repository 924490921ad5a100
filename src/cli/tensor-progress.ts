/** Progress of an export that writes a checkpoint tensor by tensor: a stderr line at most every 2 s, and the elapsed time. */
export interface TensorProgress {
  onTensor(done: number, total: number): void;
  /** Seconds since the progress began, one decimal. */
  elapsedSeconds(): string;
}

export function tensorProgress(): TensorProgress {
  const started = performance.now();
  let lastReport = 0;
  return {
    onTensor(done, total) {
      const now = performance.now();
      if (done === total || now - lastReport > 2000) {
        lastReport = now;
        console.error(`  ${done}/${total} tensors`);
      }
    },
    elapsedSeconds: () => ((performance.now() - started) / 1000).toFixed(1),
  };
}
