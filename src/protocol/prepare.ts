/**
 * OpenAI request bodies to engine inputs: prompt token ids and SamplingParams. Every
 * caller mistake becomes an OpenAIError (400) naming the field.
 */
import type { ChatMessage as TemplateMessage } from '../chat/conversation.js';
import type { ChatInput, ChatInputBuilder } from '../chat/chat-input.js';
import { ConversationError, flattenContent } from '../chat/conversation.js';
import { ChatTemplateError, type ChatTemplate } from '../chat/template.js';
import { templateToolTurns } from '../chat/tool-turns.js';
import { InvalidRequestError } from '../engine/errors.js';
import { SamplingParams, type SamplingParamsInit } from '../engine/sampling-params.js';
import type { SamplingDefaults } from '../model/generation-config.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { StructuredOutputSpec } from '../engine/structured/spec.js';
import { agentFieldProblem, type AgentChatFields } from './agent-schemas.js';
import { badRequest } from './errors.js';
import { invalidRequest, OpenAIError } from './openai-error.js';
import { checkPromptChars, encodeWithinContext, type PromptEncoder } from './prompt-size.js';
import type { ChatCompletionRequest, CompletionRequest } from './schemas.js';
import { structuredOutputOf } from './structured-output-request.js';

export interface PromptContext {
  tokenizer: Tokenizer;
  /** Text to ids; long texts off the event loop. */
  encode: PromptEncoder;
  chatTemplate: ChatTemplate;
  /** Builds chat prompts as ids instead of chatTemplate, for a family whose own code does (ChatGLM3). */
  chatInput?: ChatInputBuilder | undefined;
  maxModelLen: number;
  /** The model's embedding rows (may exceed the tokenizer's count); prompt ids must be below it. */
  modelVocabSize: number;
  /** From generation_config.json; empty when the server was told to ignore it. */
  samplingDefaults: SamplingDefaults;
}

export interface PreparedPrompt {
  promptTokenIds: number[];
  /** The prompt as text, for `echo`. */
  promptText: string;
  params: SamplingParams;
  /** prompt_logprobs was asked for (echo + logprobs also computes them, but reports them in `logprobs`). */
  wantsPromptLogprobs: boolean;
  /** The request field that set params.structuredOutput (what a 400 about it names); null when unconstrained. */
  structuredOutputParam: string | null;
}

/**
 * The output constraint of a chat or completion request: response_format, structured_outputs,
 * guided_*, or a tool_choice that forces a call. Conflicting fields are a 400 naming the field.
 */
function structuredOutputOfBody(body: AgentChatFields): { spec: StructuredOutputSpec; param: string } | null {
  const problem = agentFieldProblem(body);
  if (problem !== null) throw invalidRequest(problem[1], problem[0]);
  try {
    return structuredOutputOf(body);
  } catch (error) {
    if (error instanceof OpenAIError) throw invalidRequest(error.message, error.param);
    throw error;
  }
}

type SharedFields = Pick<
  CompletionRequest,
  | 'max_tokens' | 'temperature' | 'top_p' | 'n' | 'stop' | 'seed' | 'presence_penalty' | 'frequency_penalty'
  | 'logit_bias' | 'top_k' | 'min_p' | 'repetition_penalty' | 'ignore_eos' | 'min_tokens' | 'stop_token_ids'
  | 'skip_special_tokens' | 'include_stop_str_in_output' | 'prompt_logprobs'
>;

function undefinedIfNull<T>(value: T | null | undefined): T | undefined {
  return value ?? undefined;
}

/**
 * NOTE: when max_tokens is left out, completions default to 16 (OpenAI, vLLM) unless
 * generation_config says otherwise, and chat to whatever room the context leaves (vLLM).
 */
function samplingParams(
  body: SharedFields,
  maxTokens: number | undefined,
  logprobs: number | null,
  promptLength: number,
  context: PromptContext,
  structuredOutput: StructuredOutputSpec | null,
): SamplingParams {
  const room = context.maxModelLen - promptLength;
  if (room <= 0) {
    throw badRequest(
      `This model's maximum context length is ${context.maxModelLen} tokens. However, your prompt has ${promptLength} tokens, leaving no room for a completion.`,
      'messages',
    );
  }
  if (maxTokens !== undefined && maxTokens > room) {
    throw badRequest(
      `This model's maximum context length is ${context.maxModelLen} tokens. However, you requested ${promptLength + maxTokens} tokens (${promptLength} in the prompt, ${maxTokens} in the completion). Please reduce the length of the prompt or max_tokens.`,
      'max_tokens',
    );
  }
  const init: SamplingParamsInit = {
    n: undefinedIfNull(body.n),
    temperature: undefinedIfNull(body.temperature),
    topP: undefinedIfNull(body.top_p),
    topK: undefinedIfNull(body.top_k),
    minP: undefinedIfNull(body.min_p),
    seed: body.seed ?? null,
    repetitionPenalty: undefinedIfNull(body.repetition_penalty),
    presencePenalty: undefinedIfNull(body.presence_penalty),
    frequencyPenalty: undefinedIfNull(body.frequency_penalty),
    maxTokens,
    minTokens: undefinedIfNull(body.min_tokens),
    stop: body.stop ?? null,
    stopTokenIds: body.stop_token_ids ?? null,
    ignoreEos: undefinedIfNull(body.ignore_eos),
    includeStopStrInOutput: undefinedIfNull(body.include_stop_str_in_output),
    logprobs,
    promptLogprobs: body.prompt_logprobs ?? null,
    skipSpecialTokens: undefinedIfNull(body.skip_special_tokens),
    logitBias: body.logit_bias ?? null,
    structuredOutput,
  };
  const defaults = { ...context.samplingDefaults };
  // A default max length from generation_config must still fit the context.
  if (defaults.maxTokens !== undefined) defaults.maxTokens = Math.min(defaults.maxTokens, room);
  try {
    return new SamplingParams(init, defaults);
  } catch (error) {
    if (error instanceof InvalidRequestError) throw badRequest(error.message, error.param);
    throw error;
  }
}

function checkTokenIds(ids: number[], vocabSize: number, param: string): void {
  const bad = ids.find((id) => id >= vocabSize);
  if (bad !== undefined) throw badRequest(`token id ${bad} is out of range (vocabulary size ${vocabSize})`, param);
}

/** One PreparedPrompt per prompt of the request (a list of prompts gives several). */
export async function prepareCompletion(body: CompletionRequest, context: PromptContext): Promise<PreparedPrompt[]> {
  if (body.suffix) throw badRequest('suffix is not supported', 'suffix');
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== (body.n ?? 1)) {
    throw badRequest('best_of other than n is not supported', 'best_of');
  }
  const { tokenizer } = context;
  const prompt = body.prompt;
  let prompts: { ids: number[]; text: string }[];
  if (typeof prompt === 'string') {
    prompts = [{ ids: await encodeWithinContext(context.encode, prompt, context.maxModelLen, true, 'prompt'), text: prompt }];
  } else if (prompt.length > 0 && typeof prompt[0] === 'string') {
    prompts = await Promise.all((prompt as string[]).map(async (text) => ({ ids: await encodeWithinContext(context.encode, text, context.maxModelLen, true, 'prompt'), text })));
  } else if (prompt.length > 0 && typeof prompt[0] === 'number') {
    const ids = prompt as number[];
    checkTokenIds(ids, context.modelVocabSize, 'prompt');
    prompts = [{ ids, text: tokenizer.decode(ids, { skipSpecialTokens: false }) }];
  } else {
    prompts = (prompt as number[][]).map((ids) => {
      checkTokenIds(ids, context.modelVocabSize, 'prompt');
      return { ids, text: tokenizer.decode(ids, { skipSpecialTokens: false }) };
    });
  }
  const structured = structuredOutputOfBody(body);
  return prompts.map(({ ids, text }) => {
    if (ids.length === 0) throw badRequest('prompt is empty', 'prompt');
    const maxTokens = body.max_tokens ?? undefined;
    const params = samplingParams(body, maxTokens, body.logprobs ?? null, ids.length, context, structured?.spec ?? null);
    const withEcho = body.echo && body.logprobs !== undefined && body.logprobs !== null
      ? new SamplingParams({ ...params.toInit(), promptLogprobs: Math.max(params.promptLogprobs ?? 0, body.logprobs) })
      : params;
    return {
      promptTokenIds: ids,
      promptText: text,
      params: withEcho,
      wantsPromptLogprobs: body.prompt_logprobs != null,
      structuredOutputParam: structured?.param ?? null,
    };
  });
}

/** The fields of a chat request (or a chat /tokenize request) that shape the prompt text. */
export type ChatPromptFields = Pick<ChatCompletionRequest, 'messages' | 'add_generation_prompt' | 'chat_template_kwargs'> & {
  tools?: unknown;
};

/** The messages with their content parts flattened to text, refused (400) when too long to fit the context. */
function flatMessages(body: ChatPromptFields, maxModelLen: number): TemplateMessage[] {
  let messages: TemplateMessage[];
  try {
    messages = templateToolTurns(flattenContent(body.messages as TemplateMessage[]));
  } catch (error) {
    if (error instanceof ConversationError) throw badRequest(error.message, 'messages');
    throw error;
  }
  // NOTE: checked before the prompt is built, since building also takes time in proportion to the text.
  checkPromptChars(messages.reduce((sum, message) => sum + (typeof message.content === 'string' ? message.content.length : 0), 0), maxModelLen, 'messages');
  return messages;
}

/** Messages through the chat template to prompt text; a conversation it refuses is a 400. */
function renderChatPrompt(body: ChatPromptFields, context: Pick<PromptContext, 'chatTemplate' | 'maxModelLen'>): string {
  const messages = flatMessages(body, context.maxModelLen);
  try {
    return context.chatTemplate.render(messages, {
      addGenerationPrompt: body.add_generation_prompt ?? true,
      tools: (body.tools as unknown[] | null | undefined) ?? undefined,
      kwargs: body.chat_template_kwargs ?? undefined,
    });
  } catch (error) {
    if (error instanceof ConversationError || error instanceof ChatTemplateError) throw badRequest(error.message, 'messages');
    throw badRequest(`the chat template could not render these messages: ${(error as Error).message}`, 'messages');
  }
}

/** A chat prompt, and the stop strings its family adds (Qwen v1's `Observation:` with tools). */
export interface ChatPrompt {
  ids: number[];
  text: string;
  stop: string[];
}

/**
 * A chat prompt's ids and text: built by the family's own input builder, or rendered by the chat
 * template and encoded. A template writes its own special tokens, so by default none are added (as vLLM).
 */
export async function chatPrompt(body: ChatPromptFields, context: PromptContext, addSpecialTokens = false): Promise<ChatPrompt> {
  const { chatInput, tokenizer, maxModelLen, encode } = context;
  if (chatInput) {
    const messages = flatMessages(body, maxModelLen);
    let built: ChatInput | undefined;
    try {
      built = chatInput(messages, body.add_generation_prompt ?? true, body.tools);
    } catch (error) {
      if (error instanceof ConversationError) throw badRequest(error.message, 'messages');
      throw error;
    }
    if (built !== undefined) return { ...built, text: tokenizer.decode(built.ids, { skipSpecialTokens: false }) };
  }
  const text = renderChatPrompt(body, context);
  return { ids: await encodeWithinContext(encode, text, maxModelLen, addSpecialTokens, 'messages'), text, stop: [] };
}

/** The request's stop strings plus the family's own, each once. */
function withFamilyStops(stop: string | string[] | null | undefined, familyStops: string[]): string | string[] | null | undefined {
  if (familyStops.length === 0) return stop;
  const requested = stop === null || stop === undefined ? [] : typeof stop === 'string' ? [stop] : stop;
  return [...requested, ...familyStops.filter((s) => !requested.includes(s))];
}

export async function prepareChat(body: ChatCompletionRequest, context: PromptContext): Promise<PreparedPrompt> {
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && !body.logprobs) {
    throw badRequest('top_logprobs needs logprobs set to true', 'top_logprobs');
  }
  const structured = structuredOutputOfBody(body);
  const { ids, text, stop } = await chatPrompt(body, context);
  const room = Math.max(context.maxModelLen - ids.length, 1);
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? Math.min(context.samplingDefaults.maxTokens ?? room, room);
  const logprobs = body.logprobs ? (body.top_logprobs ?? 0) : null;
  return {
    promptTokenIds: ids,
    promptText: text,
    params: samplingParams({ ...body, stop: withFamilyStops(body.stop, stop) }, maxTokens, logprobs, ids.length, context, structured?.spec ?? null),
    wantsPromptLogprobs: body.prompt_logprobs != null,
    structuredOutputParam: structured?.param ?? null,
  };
}
