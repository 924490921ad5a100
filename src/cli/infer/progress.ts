/**
 * A progress bar on stderr: done/total, generated tokens per second, ETA. On a terminal it
 * redraws one line (at most 10 times a second); elsewhere (a log, a test) it prints a line
 * at most every few seconds, and always the last one.
 */
export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export class ProgressBar {
  private numDone = 0;
  private numTokens = 0;
  private readonly started = performance.now();
  private lastDrawn = -Infinity;
  private readonly isTerminal: boolean;

  constructor(
    private readonly total: number,
    private readonly stream: ProgressStream,
    private readonly label = 'infer',
    private readonly plainIntervalMs = 5000,
  ) {
    this.isTerminal = stream.isTTY === true;
  }

  addTokens(count: number): void {
    this.numTokens += count;
    this.draw(false);
  }

  completeOne(): void {
    this.numDone++;
    this.draw(false);
  }

  /** The last line, whatever the throttle says. */
  finish(): void {
    this.draw(true);
    if (this.isTerminal) this.stream.write('\n');
  }

  render(): string {
    const elapsed = (performance.now() - this.started) / 1000;
    const fraction = this.total === 0 ? 1 : this.numDone / this.total;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = '#'.repeat(filled) + '.'.repeat(BAR_WIDTH - filled);
    const rate = elapsed > 0 ? this.numTokens / elapsed : 0;
    const eta = this.numDone === this.total ? 0 : this.numDone === 0 ? Infinity : (elapsed / this.numDone) * (this.total - this.numDone);
    return (
      `${this.label} [${bar}] ${this.numDone}/${this.total} ${String(Math.floor(fraction * 100)).padStart(3)}% | ` +
      `${rate.toFixed(1)} tok/s | elapsed ${formatDuration(elapsed)} | ETA ${formatDuration(eta)}`
    );
  }

  private draw(force: boolean): void {
    const now = performance.now();
    const interval = this.isTerminal ? 100 : this.plainIntervalMs;
    if (!force && now - this.lastDrawn < interval) return;
    this.lastDrawn = now;
    this.stream.write(this.isTerminal ? `\r${this.render()}\x1b[K` : `${this.render()}\n`);
  }
}
