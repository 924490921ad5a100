/** A tool-call format that can tell content from calls only once the output is whole: nothing is sent before finish(). */
import type { ParsedToolDelta, ToolCallParser } from './types.js';

export abstract class WholeOutputParser implements ToolCallParser {
  private text = '';

  push(textDelta: string): ParsedToolDelta {
    this.text += textDelta;
    return { content: '', toolCalls: [] };
  }

  finish(): ParsedToolDelta {
    const text = this.text;
    this.text = '';
    return this.parse(text);
  }

  protected abstract parse(text: string): ParsedToolDelta;
}
