/**
 * A model's chat template: the Jinja in `chat_template.jinja` or `tokenizer_config.json`,
 * rendered with @huggingface/jinja the way transformers' `apply_chat_template` renders it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '../model/tokenizer.js';
import { BUILTIN_TEMPLATES, type BuiltinTemplateName } from './builtin.js';
import type { ChatMessage } from './conversation.js';

/** A template that does not parse, is not there, or refuses the conversation (`raise_exception`). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

/** What a template reads from the tokenizer: its special token strings and its config. */
export type TemplateTokenizer = Pick<Tokenizer, 'bosToken' | 'eosToken' | 'padToken' | 'config'>;

export interface RenderOptions {
  /**
   * End with the header of the assistant's turn. Defaults to true, as in vLLM's chat endpoint
   * (transformers defaults to false), since every caller here asks the model for a reply.
   */
  addGenerationPrompt?: boolean;
  /** OpenAI `tools`; also picks the `tool_use` template when the model names one. */
  tools?: readonly unknown[];
  /** A named template of the model's (`default`, `tool_use`, ...) instead of the automatic choice. */
  templateName?: string;
  /** Further variables (vLLM's `chat_template_kwargs`, e.g. `enable_thinking`). */
  kwargs?: Readonly<Record<string, unknown>>;
}

const DEFAULT_NAME = 'default';
const TOOL_USE_NAME = 'tool_use';

/** `chat_template` is a string, or a list of `{name, template}` for models with several. */
function namedSources(value: unknown, origin: string): Map<string, string> {
  if (typeof value === 'string') return new Map([[DEFAULT_NAME, value]]);
  if (Array.isArray(value)) {
    const sources = new Map<string, string>();
    for (const entry of value as unknown[]) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== 'string' || typeof template !== 'string') {
        throw new ChatTemplateError(`${origin}: chat_template entries must be {name, template} strings`);
      }
      sources.set(name, template);
    }
    return sources;
  }
  throw new ChatTemplateError(`${origin}: chat_template must be a string or a list of {name, template}`);
}

function compile(source: string, label: string): Template {
  try {
    return new Template(source);
  } catch (error) {
    throw new ChatTemplateError(`chat template ${label} does not parse: ${(error as Error).message}`);
  }
}

export class ChatTemplate {
  private readonly templates: ReadonlyMap<string, Template>;
  private readonly specialTokens: Readonly<Record<string, string>>;

  /** `sources` maps template names to Jinja; `origin` says where they came from, for errors. */
  constructor(sources: ReadonlyMap<string, string>, tokenizer: TemplateTokenizer, origin = 'chat template') {
    const templates = new Map<string, Template>();
    for (const [name, source] of sources) templates.set(name, compile(source, `'${name}' (${origin})`));
    this.templates = templates;

    // NOTE: like transformers' special_tokens_map, tokens the model lacks are left undefined.
    const specialTokens: Record<string, string> = {};
    if (tokenizer.bosToken !== undefined) specialTokens.bos_token = tokenizer.bosToken;
    if (tokenizer.eosToken !== undefined) specialTokens.eos_token = tokenizer.eosToken;
    if (tokenizer.padToken !== undefined) specialTokens.pad_token = tokenizer.padToken;
    this.specialTokens = specialTokens;
  }

  /**
   * The model's own template: `chat_template.jinja` in `dir` (how newer transformers save it)
   * wins over `chat_template` in tokenizer_config.json; undefined when the model has neither.
   */
  static async fromDir(dir: string, tokenizer: TemplateTokenizer): Promise<ChatTemplate | undefined> {
    const jinjaPath = join(dir, 'chat_template.jinja');
    let jinja: string | undefined;
    try {
      jinja = await readFile(jinjaPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (jinja !== undefined) return new ChatTemplate(new Map([[DEFAULT_NAME, jinja]]), tokenizer, jinjaPath);
    return ChatTemplate.fromTokenizerConfig(tokenizer);
  }

  /** The template in tokenizer_config.json, or undefined when it has none. */
  static fromTokenizerConfig(tokenizer: TemplateTokenizer): ChatTemplate | undefined {
    const value = tokenizer.config.chat_template;
    if (value === undefined || value === null) return undefined;
    const origin = 'tokenizer_config.json';
    return new ChatTemplate(namedSources(value, origin), tokenizer, origin);
  }

  static builtin(name: BuiltinTemplateName, tokenizer: TemplateTokenizer): ChatTemplate {
    return new ChatTemplate(new Map([[DEFAULT_NAME, BUILTIN_TEMPLATES[name]]]), tokenizer, `built-in '${name}'`);
  }

  get names(): string[] {
    return [...this.templates.keys()];
  }

  /** The prompt text; encode it without adding special tokens (the template already has them). */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const name = options.templateName ?? this.automaticName(options.tools);
    const template = this.templates.get(name);
    if (template === undefined) {
      throw new ChatTemplateError(`no chat template named '${name}' (this model has: ${this.names.join(', ')})`);
    }
    try {
      // NOTE: the fixed variables come last so a client's kwargs cannot replace the messages;
      // kwargs may override the special tokens, as in transformers.
      return template.render({
        ...this.specialTokens,
        ...options.kwargs,
        messages,
        tools: options.tools ?? null,
        add_generation_prompt: options.addGenerationPrompt ?? true,
      });
    } catch (error) {
      throw new ChatTemplateError(`chat template '${name}': ${(error as Error).message}`);
    }
  }

  /** transformers' choice: `tool_use` when tools are given and the model has one, else `default`. */
  private automaticName(tools: readonly unknown[] | undefined): string {
    return tools !== undefined && this.templates.has(TOOL_USE_NAME) ? TOOL_USE_NAME : DEFAULT_NAME;
  }
}
