/**
 * Streaming text for one sequence: each push returns only the text its tokens completed,
 * decoding a small window of recent tokens rather than the whole output (vLLM's
 * prefix-offset / read-offset technique).
 *
 * The window is `ids[prefixOffset..]`; `ids[prefixOffset..readOffset]` is text already
 * emitted, kept as left context because decoders are not compositional (SentencePiece
 * spaces, byte-level characters split over tokens). Text ending in U+FFFD is withheld: the
 * last token may hold only the first bytes of a character.
 */
import type { Tokenizer } from '../model/tokenizer.js';

const REPLACEMENT_CHARACTER = '\uFFFD';

/** Prompt tokens kept as left context for the first output token, as vLLM does. */
const PROMPT_CONTEXT_TOKENS = 5;

/**
 * NOTE: a UTF-8 character spans at most 4 tokens, so a longer run of withheld tokens ends in a
 * genuine U+FFFD (invalid bytes) or in skipped special tokens, not in half a character.
 * Past this many the window is emitted as it stands, keeping each push O(1).
 */
const MAX_WITHHELD_TOKENS = 32;

/** Once this many emitted tokens lie before the window, they are dropped from memory. */
const COMPACT_AFTER_TOKENS = 1024;

export class IncrementalDetokenizer {
  private ids: number[];
  private prefixOffset: number;
  private readOffset: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    promptIds: readonly number[],
    private readonly skipSpecialTokens: boolean,
  ) {
    const context = promptIds.slice(-PROMPT_CONTEXT_TOKENS);
    // A prompt that ends mid-character would let the first output bytes complete it, text
    // that belongs to the prompt; such a prompt gives no context instead.
    const usable = !this.decode(context).endsWith(REPLACEMENT_CHARACTER);
    this.ids = usable ? [...context] : [];
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
  }

  /** Appends generated tokens; returns the text they completed (possibly ''). */
  push(newTokenIds: readonly number[]): string {
    for (const id of newTokenIds) this.ids.push(id);
    const windowText = this.decode(this.ids.slice(this.prefixOffset));
    const isStuck = this.ids.length - this.readOffset > MAX_WITHHELD_TOKENS;
    if (windowText.endsWith(REPLACEMENT_CHARACTER) && !isStuck) return '';
    return this.emit(windowText, isStuck);
  }

  /** At the end of the sequence: whatever was withheld, an incomplete character as U+FFFD. */
  flush(): string {
    return this.emit(this.decode(this.ids.slice(this.prefixOffset)), true);
  }

  /**
   * Emits the window's text past what was already emitted and moves the window forward.
   * Without `force`, a window whose text did not grow (a skipped special token) waits, as vLLM's does.
   */
  private emit(windowText: string, force: boolean): string {
    const emittedText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    if (windowText.length <= emittedText.length && !force) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    if (this.prefixOffset >= COMPACT_AFTER_TOKENS) {
      this.ids = this.ids.slice(this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return windowText.slice(emittedText.length);
  }

  private decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens });
  }
}
