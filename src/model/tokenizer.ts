/**
 * A model's tokenizer: `tokenizer.json` run by @huggingface/tokenizers, plus what
 * `tokenizer_config.json` says about special tokens, decoding as transformers 5 does; and
 * `loadTokenizer`, which picks this or another kind (tokenizers/) for a model directory.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors.js';
import { ChatGlmTokenizer } from './tokenizers/chatglm.js';
import { tokenString } from './tokenizers/config-tokens.js';
import { QWEN_TIKTOKEN_FILE, QwenTiktokenTokenizer } from './tokenizers/qwen-tiktoken.js';
import type { DecodeOptions, EncodeOptions, Tokenizer, TokenizerConfig } from './tokenizers/types.js';

export type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizers/types.js';

type Json = TokenizerConfig;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
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

/** `tokenizer.json`, the Hugging Face fast-tokenizer format. */
export class JsonTokenizer implements Tokenizer {
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

  /** Loads `tokenizer.json` from a model directory, with its `tokenizer_config.json` (or `{}`). */
  static async fromDir(dir: string, config: TokenizerConfig): Promise<JsonTokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const tokenizerJson = await readJsonIfExists(tokenizerPath);
    if (tokenizerJson === undefined) {
      throw new ModelLoadError(`${dir} has no tokenizer.json, qwen.tiktoken or tokenizer.model swiftlet can read`);
    }
    try {
      return new JsonTokenizer(tokenizerJson, config);
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

/**
 * Remote-code tokenizers (`tokenizer_class` in tokenizer_config.json, as transformers'
 * `trust_remote_code` picks them) that swiftlet reimplements; anything else is `tokenizer.json`.
 */
const TOKENIZER_CLASSES: Readonly<Record<string, (dir: string, config: TokenizerConfig) => Promise<Tokenizer>>> = {
  QWenTokenizer: QwenTiktokenTokenizer.fromDir,
  ChatGLMTokenizer: ChatGlmTokenizer.fromDir,
};

/** The tokenizer of a model directory, whichever kind its files and tokenizer_config.json say it is. */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  // A missing config only means no special-token names and no chat template.
  const config = (await readJsonIfExists(join(dir, 'tokenizer_config.json'))) ?? {};
  const className = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : undefined;
  // NOTE: a Qwen v1 checkpoint saved without its tokenizer_config.json still has its vocabulary file.
  const kind = className !== undefined ? TOKENIZER_CLASSES[className] : undefined;
  if (kind !== undefined) return kind(dir, config);
  if (!existsSync(join(dir, 'tokenizer.json')) && existsSync(join(dir, QWEN_TIKTOKEN_FILE))) return QwenTiktokenTokenizer.fromDir(dir, config);
  return JsonTokenizer.fromDir(dir, config);
}
