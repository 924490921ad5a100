/**
 * SIGINT / SIGTERM during a file run: the first asks the run to stop (in-flight requests are
 * aborted, finished results are kept, a summary is printed); a second one exits at once,
 * which loses nothing written, since every result line is written synchronously.
 */
import { fileRunExitStatus, type InterruptSignal } from '../exit-status.js';

export function watchInterrupts(onFirst: (signal: InterruptSignal) => void): () => void {
  let isStopping = false;
  const handler = (signal: InterruptSignal) => {
    if (isStopping) process.exit(fileRunExitStatus({ numFailed: 0, interruptedBy: signal }));
    isStopping = true;
    onFirst(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
