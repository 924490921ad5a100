/**
 * A run of JSON call objects, each streamed through a CallSequence as it grows, with separator
 * characters between them: llama3_json's `;`-separated calls and the "required" tool_choice's
 * array of calls (`,`) read alike.
 */
import type { CallSequence } from './call-sequence.js';
import { jsonObjectEnd } from './json-object-scan.js';
import type { ParsedToolDelta } from './types.js';

export interface CallRunProgress {
  /** Text not taken: '' while the run goes on, else what follows the run. */
  rest: string;
  /** True once text after the calls starts with something other than `{`: the run is over. */
  isOver: boolean;
}

/** Feeds `text` (the text not taken before, then the new delta) to `calls`; `separators` matches a run of them at the start. */
export function streamCallRun(text: string, calls: CallSequence, separators: RegExp, out: ParsedToolDelta): CallRunProgress {
  let buffer = text;
  for (;;) {
    if (!calls.isOpen) {
      buffer = buffer.replace(separators, '');
      if (buffer === '') return { rest: '', isOver: false };
      if (!buffer.startsWith('{')) return { rest: buffer, isOver: true };
      calls.open();
    }
    // The open call's earlier text lives in the sequence; the object's end is found over all of it.
    const numSeen = calls.openText.length;
    const end = jsonObjectEnd(calls.openText + buffer, 0);
    const taken = end < 0 ? buffer.length : end - numSeen;
    calls.append(buffer.slice(0, taken), out);
    buffer = buffer.slice(taken);
    if (end < 0) return { rest: '', isOver: false };
    calls.close(out);
  }
}
