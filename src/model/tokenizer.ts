/**
 * A model's tokenizer: `tokenizer.json` run by @huggingface/tokenizers, plus what
 * `tokenizer_config.json` says about special tokens, decoding as transformers 5 does.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors.js';

export interface EncodeOptions {
  /** Let the post-processor add BOS/EOS; defaults to true, as in transformers. Chat prompts pass false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out tokens marked special; defaults to false, as in transformers. */
  skipSpecialTokens?: boolean;
}

type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

/** `tokenizer_config.json` spells a special token as a string, `{content: ...}`, or null. */
function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as Json).content === 'string') {
    return (value as Json).content as string;
  }
  return undefined;
}

/** The parsed file, or undefined when it does not exist. */
async function readJsonIfExists(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelLoadError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * transformers >= 5.7 skips `clean_up_tokenization_spaces` for BPE models (it deletes real
 * spaces before punctuation there) unless a config forces it with this key.
 */
const FORCE_BPE_CLEANUP_KEY = 'clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output';

function cleansUpSpaces(tokenizerJson: Json, config: Json): boolean {
  if (config.clean_up_tokenization_spaces !== true) return false;
  const modelType = (tokenizerJson.model as Json | undefined)?.type;
  return modelType !== 'BPE' || config[FORCE_BPE_CLEANUP_KEY] === true;
}

export class Tokenizer {
  /** Number of token ids the tokenizer knows (may be fewer than the model's embedding rows). */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  /** The whole `tokenizer_config.json`, for the chat template and anything else that reads it. */
  readonly config: Readonly<Json>;

  private readonly inner: HfTokenizer;
  private readonly specialIds: ReadonlySet<number>;
  private readonly cleanUpSpaces: boolean;

  constructor(tokenizerJson: Json, config: Json) {
    this.inner = new HfTokenizer(tokenizerJson, config);
    this.config = config;
    this.vocabSize = this.inner.model?.vocab.length ?? 0;
    this.cleanUpSpaces = cleansUpSpaces(tokenizerJson, config);

    // NOTE: what decode skips: added tokens flagged special (as the Rust tokenizers do) and the
    // config's additional_special_tokens (transformers registers those as special too).
    const specialIds = new Set<number>();
    const addedTokens = (tokenizerJson.added_tokens ?? []) as AddedTokenJson[];
    for (const token of addedTokens) if (token.special === true) specialIds.add(token.id);
    const additional = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : [];
    for (const entry of additional) {
      const id = this.tokenToIdOf(tokenString(entry));
      if (id !== undefined) specialIds.add(id);
    }
    this.specialIds = specialIds;

    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    this.padToken = tokenString(config.pad_token);
    this.bosTokenId = this.tokenToIdOf(this.bosToken);
    this.eosTokenId = this.tokenToIdOf(this.eosToken);
    this.padTokenId = this.tokenToIdOf(this.padToken);
  }

  /** Loads `tokenizer.json` and (when present) `tokenizer_config.json` from a model directory. */
  /** Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a model directory. */
  static async fromDir(dir: string): Promise<Tokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const tokenizerJson = await readJsonIfExists(tokenizerPath);
    if (tokenizerJson === undefined) {
      throw new ModelLoadError(`${dir} has no tokenizer.json (only the Hugging Face fast-tokenizer format is supported)`);
    }
    // A missing config only means no special-token names and no chat template.
    const config = (await readJsonIfExists(join(dir, 'tokenizer_config.json'))) ?? {};
    try {
      return new Tokenizer(tokenizerJson, config);
    } catch (error) {
      throw new ModelLoadError(`${tokenizerPath}: ${(error as Error).message}`);
    }
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skipSpecial = options.skipSpecialTokens ?? false;
    // NOTE: ids past the tokenizer's vocabulary (a model's padded embedding rows) decode to
    // nothing, as in the Rust tokenizers; a random-weight model can sample them.
    const kept = ids.filter((id) => id >= 0 && id < this.vocabSize && !(skipSpecial && this.specialIds.has(id)));
    if (kept.length === 0) return '';
    return this.inner.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  /** The vocabulary entry itself (byte-level BPE spells a leading space `Ġ`). */
  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** The text of one token alone, as vLLM reports it in logprobs: half a character decodes to U+FFFD. */
  decodeToken(id: number): string {
    return this.decode([id]);
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  private tokenToIdOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.inner.token_to_id(token);
  }
}
