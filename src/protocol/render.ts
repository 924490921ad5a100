/** Response bodies (whole and streamed) of /v1/completions and /v1/chat/completions. */
import { chatLogprobs, completionLogprobs, promptLogprobs, type PromptLogprobsEntry, type TokenNamer } from './logprobs.js';
import type { ChatFinishReason, ChatMessageOut } from './chat-output/chat-message.js';
import { usageOf, type ChoiceResult, type PromptResult, type TokenLogprob, type Usage } from './results.js';

export interface RenderOptions {
  id: string;
  model: string;
  created: number;
  namer: TokenNamer;
  returnTokensAsTokenIds: boolean;
}

/** With echo, the prompt's logprobs precede the completion's (the first prompt token's is null). */
function echoEntries(prompt: PromptResult): { tokenId: number; logprob: TokenLogprob | null }[] {
  return prompt.promptTokenIds.map((tokenId, i) => ({ tokenId, logprob: prompt.promptLogprobs?.[i] ?? null }));
}

/**
 * `prompts[i]` belongs to choices i*n .. i*n+n-1 (a list of prompts with n samples each).
 * With echo the prompt text (and its logprobs, when logprobs were asked) lead each choice.
 */
type ObjectKind = 'text_completion' | 'chat.completion' | 'chat.completion.chunk';

/** The fields every response body and stream chunk starts with. */
function envelope(options: RenderOptions, object: ObjectKind): { id: string; object: ObjectKind; created: number; model: string } {
  return { id: options.id, object, created: options.created, model: options.model };
}

export function renderCompletion(
  options: RenderOptions,
  prompts: PromptResult[],
  choices: ChoiceResult[],
  echo: boolean,
  n: number,
): Record<string, unknown> {
  return {
    ...envelope(options, 'text_completion'),
    choices: choices.map((choice) => {
      const prompt = prompts[Math.floor(choice.index / n)] as PromptResult;
      const prefix = echo ? prompt.promptText : '';
      let logprobs = null;
      if (choice.logprobs) {
        const entries = [
          ...(echo ? echoEntries(prompt) : []),
          ...choice.tokenIds.map((tokenId, i) => ({ tokenId, logprob: choice.logprobs?.[i] ?? null })),
        ];
        logprobs = completionLogprobs(entries, options.namer, options.returnTokensAsTokenIds, 0);
      }
      return {
        index: choice.index,
        text: prefix + choice.text,
        logprobs,
        finish_reason: choice.finishReason,
        stop_reason: choice.stopReason,
        prompt_logprobs: renderPromptLogprobs(options, prompt),
      };
    }),
    usage: usageOf(prompts, choices),
  };
}

/** A choice's text read as a message (content, reasoning, tool calls) and how it ended. */
export type ChatChoiceReader = (choice: ChoiceResult) => { message: ChatMessageOut; finishReason: ChatFinishReason };

export function renderChatCompletion(
  options: RenderOptions,
  prompt: PromptResult,
  choices: ChoiceResult[],
  numTopLogprobs: number,
  readChoice: ChatChoiceReader,
): Record<string, unknown> {
  return {
    ...envelope(options, 'chat.completion'),
    choices: choices.map((choice) => {
      const { message, finishReason } = readChoice(choice);
      return {
        index: choice.index,
        message,
        logprobs: choice.logprobs
          ? chatLogprobs(choice.logprobs, options.namer, options.returnTokensAsTokenIds, numTopLogprobs)
          : null,
        finish_reason: finishReason,
        stop_reason: choice.stopReason,
      };
    }),
    usage: usageOf([prompt], choices),
    prompt_logprobs: renderPromptLogprobs(options, prompt),
  };
}

/** Present only when the request asked for prompt_logprobs (echo's logprobs come through `logprobs`). */
function renderPromptLogprobs(options: RenderOptions, prompt: PromptResult): PromptLogprobsEntry[] | null {
  if (!prompt.promptLogprobs || !prompt.wantsPromptLogprobs) return null;
  return promptLogprobs(prompt.promptTokenIds, prompt.promptLogprobs, options.namer, options.returnTokensAsTokenIds);
}

/** One streamed piece of a choice: the text and tokens it adds, and how it ended if it did. */
export interface ChoiceDelta {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[] | null;
  finishReason: ChatFinishReason;
  stopReason: ChoiceResult['stopReason'];
  /** Characters of this choice already sent, for completion logprobs' text_offset. */
  textOffset: number;
}

export function completionChunk(options: RenderOptions, delta: ChoiceDelta): Record<string, unknown> {
  return {
    ...envelope(options, 'text_completion'),
    choices: [
      {
        index: delta.index,
        text: delta.text,
        logprobs: delta.logprobs
          ? completionLogprobs(
              delta.tokenIds.map((tokenId, i) => ({ tokenId, logprob: delta.logprobs?.[i] ?? null })),
              options.namer,
              options.returnTokensAsTokenIds,
              delta.textOffset,
            )
          : null,
        finish_reason: delta.finishReason,
        stop_reason: delta.stopReason,
      },
    ],
  };
}

/** With echo, a streamed choice starts with the prompt's text (and its logprobs when asked). */
export function echoChunk(options: RenderOptions, index: number, prompt: PromptResult, withLogprobs: boolean): Record<string, unknown> {
  return {
    ...envelope(options, 'text_completion'),
    choices: [
      {
        index,
        text: prompt.promptText,
        logprobs: withLogprobs ? completionLogprobs(echoEntries(prompt), options.namer, options.returnTokensAsTokenIds, 0) : null,
        finish_reason: null,
        stop_reason: null,
      },
    ],
  };
}

/** `fields` is the chunk's `delta` (chat-output/chat-message.ts's chatDelta). */
export function chatChunk(
  options: RenderOptions,
  delta: ChoiceDelta,
  numTopLogprobs: number,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  return {
    ...envelope(options, 'chat.completion.chunk'),
    choices: [
      {
        index: delta.index,
        delta: fields,
        logprobs: delta.logprobs
          ? chatLogprobs(delta.logprobs, options.namer, options.returnTokensAsTokenIds, numTopLogprobs)
          : null,
        finish_reason: delta.finishReason,
        stop_reason: delta.stopReason,
      },
    ],
  };
}

/** The last chunk before [DONE] when stream_options.include_usage is set. */
export function usageChunk(options: RenderOptions, object: Exclude<ObjectKind, 'chat.completion'>, usage: Usage): Record<string, unknown> {
  return { ...envelope(options, object), choices: [], usage };
}
