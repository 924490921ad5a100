/** Download progress on stderr: one redrawn line on a terminal, a line every few seconds otherwise. */

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

const MIB = 2 ** 20;
const LINE_EVERY_MS = 5000;
const REDRAW_EVERY_MS = 200;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

export class DownloadProgress {
  private file = '';
  private fileSize = 0;
  private fileDone = 0;
  private bytesThisRun = 0;
  private started = 0;
  private lastDraw = 0;

  constructor(
    private readonly sink: ProgressSink | null,
    private readonly label: string,
  ) {}

  note(message: string): void {
    this.sink?.write(`${message}\n`);
  }

  startFile(path: string, size: number, resumedFrom: number): void {
    this.file = path;
    this.fileSize = size;
    this.fileDone = resumedFrom;
    this.bytesThisRun = 0;
    this.started = performance.now();
    this.lastDraw = 0;
    const resumed = resumedFrom > 0 ? ` (resuming at ${mib(resumedFrom)})` : '';
    if (!this.sink?.isTTY) this.note(`${this.label}: ${path} ${mib(size)}${resumed}`);
  }

  advance(bytes: number): void {
    this.fileDone += bytes;
    this.bytesThisRun += bytes;
    const now = performance.now();
    if (now - this.lastDraw < (this.sink?.isTTY ? REDRAW_EVERY_MS : LINE_EVERY_MS)) return;
    this.lastDraw = now;
    this.draw(false);
  }

  finishFile(): void {
    this.draw(true);
  }

  private draw(isFinal: boolean): void {
    if (!this.sink) return;
    const seconds = Math.max((performance.now() - this.started) / 1000, 1e-3);
    const percent = this.fileSize > 0 ? Math.floor((100 * this.fileDone) / this.fileSize) : 100;
    const line = `${this.label}: ${this.file} ${String(percent).padStart(3)}% ${mib(this.fileDone)} / ${mib(this.fileSize)} ${mib(this.bytesThisRun / seconds)}/s`;
    if (this.sink.isTTY) this.sink.write(`\r${line}\x1b[K${isFinal ? '\n' : ''}`);
    else this.sink.write(`${line}\n`);
  }
}
