/** The non-blank lines of a JSONL file, each with its line number as an editor shows it. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface NumberedLine {
  /** 1-based, counting blank lines too, so an error names the line the user sees. */
  lineNumber: number;
  text: string;
}

export async function readNumberedLines(path: string): Promise<NumberedLine[]> {
  const input = path === '-' ? process.stdin : createReadStream(path, 'utf8');
  const lines: NumberedLine[] = [];
  let lineNumber = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber++;
    if (text.trim() !== '') lines.push({ lineNumber, text });
  }
  return lines;
}
