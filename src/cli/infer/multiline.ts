/**
 * Lines typed at the chat prompt into messages. A line ending in `\` continues on the next
 * line; `"""` opens a block that runs until a line ending in `"""` (the quotes may share a
 * line with text). Everything else is a message of one line.
 */
export type LineResult = { kind: 'message'; text: string } | { kind: 'more' };

const FENCE = '"""';

export class MultilineInput {
  private lines: string[] = [];
  private isInBlock = false;
  private isContinued = false;

  /** Whether earlier lines wait for the rest of their message. */
  get isPending(): boolean {
    return this.isInBlock || this.isContinued;
  }

  reset(): void {
    this.lines = [];
    this.isInBlock = false;
    this.isContinued = false;
  }

  feed(line: string): LineResult {
    if (this.isInBlock) {
      if (!line.trimEnd().endsWith(FENCE)) {
        this.lines.push(line);
        return { kind: 'more' };
      }
      const last = line.trimEnd().slice(0, -FENCE.length);
      if (last !== '') this.lines.push(last);
      return this.finish();
    }
    if (!this.isContinued && line.trimStart().startsWith(FENCE)) {
      const rest = line.trimStart().slice(FENCE.length);
      if (rest.trimEnd().endsWith(FENCE) && rest.trimEnd().length >= FENCE.length) {
        this.lines.push(rest.trimEnd().slice(0, -FENCE.length));
        return this.finish();
      }
      this.isInBlock = true;
      if (rest !== '') this.lines.push(rest);
      return { kind: 'more' };
    }
    if (line.endsWith('\\')) {
      this.lines.push(line.slice(0, -1));
      this.isContinued = true;
      return { kind: 'more' };
    }
    this.lines.push(line);
    return this.finish();
  }

  private finish(): LineResult {
    const text = this.lines.join('\n');
    this.reset();
    return { kind: 'message', text };
  }
}
