/**
 * A vocabulary as llama.cpp's `tokenizer.ggml.tokens` / `token_type` arrays: one entry per
 * embedding row, the rows past the tokenizer named `[PAD<id>]` and typed unused, as llama.cpp's
 * converter writes them.
 */
import { ModelLoadError } from '../errors.js';

/** llama.cpp's token attribute numbering (SentencePiece's piece types use the same numbers). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;
export type TokenType = (typeof TOKEN_TYPE)[keyof typeof TOKEN_TYPE];

export class GgufVocabulary {
  private readonly tokens: (string | undefined)[];
  readonly types: number[];
  readonly scores: number[];

  constructor(readonly numTokens: number) {
    this.tokens = Array.from({ length: numTokens }, () => undefined);
    this.types = new Array<number>(numTokens).fill(TOKEN_TYPE.normal);
    this.scores = new Array<number>(numTokens).fill(0);
  }

  place(id: unknown, content: string, type: TokenType = TOKEN_TYPE.normal, score = 0): void {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new ModelLoadError(`GGUF export: token "${content}" has a bad id ${String(id)}`);
    if (id >= this.numTokens) {
      throw new ModelLoadError(`GGUF export: token "${content}" has id ${id}, past the model's ${this.numTokens} embedding rows`);
    }
    this.tokens[id] = content;
    this.types[id] = type;
    this.scores[id] = score;
  }

  /** Every row's token, placeholders included (and their types set to unused). */
  list(): string[] {
    return this.tokens.map((token, id) => {
      if (token !== undefined) return token;
      this.types[id] = TOKEN_TYPE.unused;
      return `[PAD${id}]`;
    });
  }
}
