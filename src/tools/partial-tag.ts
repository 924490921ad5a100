/** Streaming text that may split a tag across deltas: how much of the end to hold back. */

/** Length of the longest suffix of `text` that is a proper prefix of `tag` (0 when none). */
export function partialTagLength(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}
