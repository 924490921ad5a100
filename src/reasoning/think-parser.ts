/**
 * Reasoning between `<think>` and `</think>`, split from the answer as `reasoning_content`.
 * `qwen3`: reasoning only inside an explicit `<think>…</think>` at the start (with
 * enable_thinking=false the template closes the block in the prompt, so the output is all
 * content). `deepseek_r1`: the template opens `<think>` in the prompt, so the output starts in
 * reasoning (a `<think>` the model repeats is dropped) and is all reasoning until `</think>`.
 */
import { partialTagLength } from '../tools/partial-tag.js';

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningDelta {
  reasoning: string;
  content: string;
}

/** A reasoning format: fed the decoded text deltas of one choice, in order. */
export interface ReasoningParser {
  push(textDelta: string): ReasoningDelta;
  finish(): ReasoningDelta;
}

/** 'start': an optional `<think>` may still come (after whitespace); 'reasoning' until `</think>`; then 'content'. */
type Phase = 'start' | 'reasoning' | 'content';

export class ThinkReasoningParser implements ReasoningParser {
  private phase: Phase = 'start';
  private buffer = '';

  constructor(private readonly startsInReasoning: boolean) {}

  push(textDelta: string): ReasoningDelta {
    this.buffer += textDelta;
    const out: ReasoningDelta = { reasoning: '', content: '' };
    for (;;) {
      if (this.phase === 'content') {
        out.content += this.buffer;
        this.buffer = '';
        return out;
      }
      if (this.phase === 'start') {
        const head = this.buffer.trimStart();
        if (OPEN.startsWith(head)) return out;
        const isOpened = head.startsWith(OPEN);
        if (isOpened) this.buffer = head.slice(OPEN.length);
        this.phase = isOpened || this.startsInReasoning ? 'reasoning' : 'content';
        continue;
      }
      const close = this.buffer.indexOf(CLOSE);
      const end = close >= 0 ? close : this.buffer.length - partialTagLength(this.buffer, CLOSE);
      out.reasoning += this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(close >= 0 ? close + CLOSE.length : end);
      if (close < 0) return out;
      this.phase = 'content';
    }
  }

  finish(): ReasoningDelta {
    const rest = this.buffer;
    this.buffer = '';
    const isReasoning = this.phase === 'reasoning' || (this.phase === 'start' && this.startsInReasoning);
    return isReasoning ? { reasoning: rest, content: '' } : { reasoning: '', content: rest };
  }
}

/** The whole-output form: `reasoning` is null when there was none (as vLLM's reasoning_content). */
export function extractReasoning(parser: ReasoningParser, text: string): { reasoning: string | null; content: string | null } {
  const a = parser.push(text);
  const b = parser.finish();
  const reasoning = a.reasoning + b.reasoning;
  const content = a.content + b.content;
  return { reasoning: reasoning === '' ? null : reasoning, content: content === '' ? null : content };
}
