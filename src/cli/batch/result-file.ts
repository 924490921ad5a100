/**
 * Where run-batch results go as each one finishes, so an interrupted run keeps every finished
 * result: each JSONL line is appended with one synchronous write, so a signal handler (which
 * runs between JavaScript tasks) never sees half a line. A file is put back in input order at
 * the end by writing a sibling file and renaming it over the output; stdout stays in
 * completion order (each line has its `custom_id`).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { OutputMode } from './output-path.js';

export interface ResultSink {
  append(line: string): void;
  /** The whole set of results, in input order; called once, after the last append. */
  finish(linesInOrder: string[]): void;
  close(): void;
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

class StdoutSink implements ResultSink {
  append(line: string): void {
    writeAll(1, `${line}\n`);
  }

  finish(): void {}

  close(): void {}
}

class FileSink implements ResultSink {
  private fd: number | null;

  constructor(private readonly path: string, mode: OutputMode) {
    this.fd = openSync(path, mode === 'resume' ? 'a' : 'w');
  }

  append(line: string): void {
    if (this.fd === null) throw new Error('results file already closed');
    writeAll(this.fd, `${line}\n`);
  }

  finish(linesInOrder: string[]): void {
    const temporary = `${this.path}.swiftlet-${process.pid}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeAll(fd, linesInOrder.map((line) => `${line}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    this.close();
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export function openResultSink(path: string, mode: OutputMode): ResultSink {
  return path === '-' ? new StdoutSink() : new FileSink(path, mode);
}

/**
 * The answered results in a file a previous run left: custom_id -> its result line. Failed
 * results are left out (they run again), as is a last line cut short by a crash.
 */
export function readAnswered(path: string): Map<string, string> {
  const answered = new Map<string, string>();
  if (!existsSync(path)) return answered;
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    let result: unknown;
    try {
      result = JSON.parse(text);
    } catch {
      continue;
    }
    const record = result as { custom_id?: unknown; error?: unknown } | null;
    if (typeof record?.custom_id === 'string' && record.error === null) answered.set(record.custom_id, text);
  }
  return answered;
}
