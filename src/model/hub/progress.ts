/**
 * Download progress on stderr: one redrawn line on a terminal, otherwise a line when a large
 * file starts, every few seconds while it comes, and when it is done.
 */

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

const LINE_EVERY_MS = 5000;
const REDRAW_EVERY_MS = 200;
/** Files below this get no lines of their own off a terminal. */
const QUIET_BELOW_BYTES = 2 ** 20;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export class DownloadProgress {
  private file = '';
  private fileSize = 0;
  private fileDone = 0;
  private bytesThisFile = 0;
  private started = 0;
  private lastDraw = 0;
  private numFiles = 0;
  private bytesTotal = 0;
  private readonly runStarted = performance.now();

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
    this.bytesThisFile = 0;
    this.started = performance.now();
    this.lastDraw = this.started;
    if (!this.sink?.isTTY && this.isLoud()) {
      const resumed = resumedFrom > 0 ? `, resuming at ${formatBytes(resumedFrom)}` : '';
      this.note(`${this.label}: ${path} (${formatBytes(size)}${resumed})`);
    }
  }

  advance(bytes: number): void {
    this.fileDone += bytes;
    this.bytesThisFile += bytes;
    const now = performance.now();
    if (now - this.lastDraw < (this.sink?.isTTY ? REDRAW_EVERY_MS : LINE_EVERY_MS)) return;
    this.lastDraw = now;
    this.draw(false);
  }

  finishFile(): void {
    this.numFiles++;
    this.bytesTotal += this.bytesThisFile;
    this.draw(true);
  }

  /** One closing line: files and bytes fetched in this run. */
  finish(): void {
    const seconds = (performance.now() - this.runStarted) / 1000;
    this.note(`${this.label}: done, ${this.numFiles} file(s), ${formatBytes(this.bytesTotal)} in ${seconds.toFixed(1)} s`);
  }

  private isLoud(): boolean {
    return this.fileSize >= QUIET_BELOW_BYTES;
  }

  private draw(isFinal: boolean): void {
    if (!this.sink || (!this.sink.isTTY && !this.isLoud())) return;
    const seconds = Math.max((performance.now() - this.started) / 1000, 1e-3);
    const percent = this.fileSize > 0 ? Math.floor((100 * this.fileDone) / this.fileSize) : 100;
    const rate = `${formatBytes(this.bytesThisFile / seconds)}/s`;
    const line = `${this.label}: ${this.file} ${String(percent).padStart(3)}% ${formatBytes(this.fileDone)} / ${formatBytes(this.fileSize)} ${rate}`;
    if (this.sink.isTTY) this.sink.write(`\r${line}\x1b[K${isFinal ? '\n' : ''}`);
    else this.sink.write(`${line}\n`);
  }
}
