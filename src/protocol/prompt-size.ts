/**
 * Prompt text is refused by its length before it is tokenized, because tokenizing runs on the
 * server's one event loop: a 20 MB prompt would stall every other request (and /health) for
 * seconds. The bound loses nothing that could run: no token of the byte-level BPE
 * vocabularies swiftlet loads covers more than MAX_CHARS_PER_TOKEN characters (Qwen2's
 * longest is 128 bytes, and a UTF-16 string is never longer than its UTF-8 bytes), so a text
 * longer than maxModelLen * MAX_CHARS_PER_TOKEN has more tokens than the context holds.
 */
import { badRequest } from './errors.js';

export const MAX_CHARS_PER_TOKEN = 128;

/** Prompt text to token ids (the server's may run in a worker thread, so it answers later). */
export type PromptEncoder = (text: string, addSpecialTokens: boolean) => Promise<number[]>;

export function maxPromptChars(maxModelLen: number): number {
  return maxModelLen * MAX_CHARS_PER_TOKEN;
}

/** A 400 when `numChars` of text cannot fit the context whatever its tokens. */
export function checkPromptChars(numChars: number, maxModelLen: number, param: string): void {
  const limit = maxPromptChars(maxModelLen);
  if (numChars <= limit) return;
  throw badRequest(
    `${param} has ${numChars} characters: more than this model's maximum context of ${maxModelLen} tokens can hold ` +
      `(at most ${limit} characters); shorten it`,
    param,
  );
}

/** The text's token ids, or a 400 when it is too long to fit the context whatever its tokens. */
export async function encodeWithinContext(encode: PromptEncoder, text: string, maxModelLen: number, addSpecialTokens: boolean, param: string): Promise<number[]> {
  checkPromptChars(text.length, maxModelLen, param);
  return encode(text, addSpecialTokens);
}
