/**
 * A Hugging Face byte-level BPE tokenizer (`tokenizer.json` + `tokenizer_config.json`) as
 * llama.cpp's `tokenizer.ggml.*` keys: the vocabulary padded to the model's embedding rows,
 * token types, merges, special token ids, BOS/EOS insertion, the pre-tokenizer type that
 * selects llama.cpp's splitting regex, and the chat template(s).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { architectureOf } from '../arch/registry.js';
import type { ModelSpec } from '../spec.js';
import type { GgufBuilder } from './gguf-file.js';
import { GgufVocabulary, TOKEN_TYPE } from './vocabulary.js';

type Json = Record<string, unknown>;


/**
 * The splitting regexes llama.cpp knows, by the `tokenizer.ggml.pre` name that selects them.
 * NOTE: Qwen2's and Llama 3's differ only in how digits group (one at a time vs up to three).
 */
const KNOWN_SPLIT_PATTERNS: [string, string][] = [
  ['qwen2', "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  ['llama-bpe', "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
];

/** The pre-tokenizer names this exporter can derive (others may be forced with `tokenizerPre`). */
export const DERIVABLE_PRE_TOKENIZERS = ['qwen2', 'llama-bpe', 'gpt-2'];

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (error) {
    throw new ModelLoadError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

/** A pre-tokenizer and the ones nested in it (a `Sequence`), depth first. */
function flatten(node: unknown): Json[] {
  const object = asObject(node);
  if (!object) return [];
  if (object['type'] === 'Sequence') {
    const children = (object['pretokenizers'] ?? object['processors'] ?? []) as unknown[];
    return children.flatMap(flatten);
  }
  return [object];
}

/** The `tokenizer.ggml.pre` of a tokenizer.json, judged by its splitting regex. */
export function derivePreTokenizer(tokenizerJson: Json): string {
  const steps = flatten(tokenizerJson['pre_tokenizer']);
  const splits = steps.filter((s) => s['type'] === 'Split');
  const byteLevel = steps.find((s) => s['type'] === 'ByteLevel');
  if (!byteLevel) throw new ModelLoadError('GGUF export: the tokenizer has no ByteLevel pre-tokenizer; only byte-level BPE (gpt2) tokenizers are supported');
  if (splits.length === 0 && byteLevel['use_regex'] !== false) return 'gpt-2';
  const patterns = splits.map((s) => asObject(s['pattern'])?.['Regex']);
  if (patterns.length === 1 && typeof patterns[0] === 'string') {
    const known = KNOWN_SPLIT_PATTERNS.find(([, pattern]) => pattern === patterns[0]);
    if (known) return known[0];
  }
  throw new ModelLoadError(
    `GGUF export: cannot tell which llama.cpp pre-tokenizer matches this tokenizer's split pattern(s) ${JSON.stringify(patterns)}; ` +
      `known: ${DERIVABLE_PRE_TOKENIZERS.join(', ')} (pass --tokenizer-pre NAME to choose one of llama.cpp's yourself)`,
  );
}

/** `tokenizer_config.json` spells a special token as a string, `{content: ...}`, or null. */
function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const content = asObject(value)?.['content'];
  return typeof content === 'string' ? content : undefined;
}

/** Whether the post-processor puts a special token first (BOS) or last (EOS) of a single sequence. */
function postProcessorAdds(tokenizerJson: Json, where: 'first' | 'last'): boolean | undefined {
  const template = flatten(tokenizerJson['post_processor']).find((p) => p['type'] === 'TemplateProcessing');
  const single = template?.['single'];
  if (!Array.isArray(single) || single.length === 0) return template ? false : undefined;
  const piece = asObject(where === 'first' ? single[0] : single[single.length - 1]);
  return piece !== undefined && 'SpecialToken' in piece;
}

/** Merges are `"a b"` strings in older files and `["a", "b"]` pairs in newer ones. */
function mergeStrings(merges: unknown): string[] {
  if (!Array.isArray(merges)) throw new ModelLoadError('GGUF export: tokenizer.json has no BPE merges');
  return merges.map((merge) => {
    if (typeof merge === 'string') return merge;
    if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') {
      if (merge[0].includes(' ') || merge[1].includes(' ')) {
        throw new ModelLoadError(`GGUF export: merge ${JSON.stringify(merge)} has a space, which GGUF's "a b" spelling cannot carry`);
      }
      return `${merge[0]} ${merge[1]}`;
    }
    throw new ModelLoadError(`GGUF export: cannot read BPE merge ${JSON.stringify(merge)}`);
  });
}

/** Added tokens that are not flagged special but look like control tokens (`<|...|>`). */
function looksLikeControl(content: string): boolean {
  return /^<\|.*\|>$/s.test(content);
}

export interface TokenizerMetadataOptions {
  /** Force `tokenizer.ggml.pre` instead of deriving it. */
  tokenizerPre?: string;
}

/** Sets the `tokenizer.*` keys from the tokenizer files in `dir`. */
export function setTokenizerMetadata(gguf: GgufBuilder, dir: string, spec: ModelSpec, options: TokenizerMetadataOptions = {}): void {
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) throw new ModelLoadError(`GGUF export: ${dir} has no tokenizer.json`);
  const tokenizerJson = readJson(tokenizerPath);
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  const model = asObject(tokenizerJson['model']);
  if (model?.['type'] !== 'BPE') {
    throw new ModelLoadError(`GGUF export: tokenizer model is ${String(model?.['type'])}; only byte-level BPE (gpt2) tokenizers are supported`);
  }
  const vocab = asObject(model['vocab']) ?? {};

  const vocabulary = new GgufVocabulary(spec.vocabSize);
  for (const [content, id] of Object.entries(vocab)) vocabulary.place(id, content);
  const addedTokens = Array.isArray(tokenizerJson['added_tokens']) ? (tokenizerJson['added_tokens'] as Json[]) : [];
  for (const added of addedTokens) {
    const content = added['content'];
    if (typeof content !== 'string') continue;
    vocabulary.place(added['id'], content, added['special'] === true || looksLikeControl(content) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  const tokenList = vocabulary.list();

  const idOf = (token: string | undefined): number | undefined => {
    if (token === undefined) return undefined;
    const id = tokenList.indexOf(token);
    return id >= 0 ? id : undefined;
  };
  const bosId = idOf(tokenString(config['bos_token'])) ?? spec.bosTokenId ?? undefined;
  const eosId = idOf(tokenString(config['eos_token'])) ?? spec.eosTokenIds[0];
  const padId = idOf(tokenString(config['pad_token']));
  const addBos = typeof config['add_bos_token'] === 'boolean' ? config['add_bos_token'] : (postProcessorAdds(tokenizerJson, 'first') ?? false);
  const addEos = typeof config['add_eos_token'] === 'boolean' ? config['add_eos_token'] : (postProcessorAdds(tokenizerJson, 'last') ?? false);

  gguf.set('tokenizer.ggml.model', { type: 'string', value: architectureOf(spec).tokenizer });
  gguf.set('tokenizer.ggml.pre', { type: 'string', value: options.tokenizerPre ?? derivePreTokenizer(tokenizerJson) });
  gguf.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokenList });
  gguf.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocabulary.types });
  gguf.set('tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: mergeStrings(model['merges']) });
  if (bosId !== undefined) gguf.set('tokenizer.ggml.bos_token_id', { type: 'uint32', value: bosId });
  if (eosId !== undefined) gguf.set('tokenizer.ggml.eos_token_id', { type: 'uint32', value: eosId });
  if (padId !== undefined) gguf.set('tokenizer.ggml.padding_token_id', { type: 'uint32', value: padId });
  gguf.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: addBos });
  gguf.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: addEos });
  setChatTemplates(gguf, dir, config);
}

/** `chat_template.jinja` wins over tokenizer_config.json's; named templates go under `tokenizer.chat_template.NAME`. */
function setChatTemplates(gguf: GgufBuilder, dir: string, config: Json): void {
  const jinjaPath = join(dir, 'chat_template.jinja');
  if (existsSync(jinjaPath)) {
    gguf.set('tokenizer.chat_template', { type: 'string', value: readFileSync(jinjaPath, 'utf8') });
    return;
  }
  const value = config['chat_template'];
  if (typeof value === 'string') {
    gguf.set('tokenizer.chat_template', { type: 'string', value });
    return;
  }
  if (!Array.isArray(value)) return;
  const names: string[] = [];
  for (const entry of value as unknown[]) {
    const name = asObject(entry)?.['name'];
    const template = asObject(entry)?.['template'];
    if (typeof name !== 'string' || typeof template !== 'string') continue;
    if (name === 'default') {
      gguf.set('tokenizer.chat_template', { type: 'string', value: template });
    } else {
      names.push(name);
      gguf.set(`tokenizer.chat_template.${name}`, { type: 'string', value: template });
    }
  }
  if (names.length > 0) gguf.set('tokenizer.chat_templates', { type: 'array', itemType: 'string', value: names });
}
