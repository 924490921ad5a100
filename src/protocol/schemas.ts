/**
 * OpenAI request bodies with vLLM's extensions, as zod schemas. Unknown fields are
 * accepted and ignored (as the OpenAI API and vLLM do); known fields of the wrong type
 * are a 400 that names the field.
 */
import { z } from 'zod';
import { structuredOutputFields, toolFields } from './agent-schemas.js';

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullish();
const nonNegativeInt = z.number().int().min(0);

/** Fields both endpoints share: OpenAI's sampling parameters plus vLLM's extensions. */
const samplingFields = {
  model: z.string().nullish(),
  max_tokens: z.number().int().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  stop,
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  user: z.string().nullish(),
  // vLLM extensions, with vLLM's names and meanings.
  top_k: z.number().int().nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  min_tokens: nonNegativeInt.nullish(),
  stop_token_ids: z.array(nonNegativeInt).nullish(),
  skip_special_tokens: z.boolean().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  prompt_logprobs: nonNegativeInt.nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
};

const tokenIds = z.array(nonNegativeInt).min(1);

export const completionRequestSchema = z.looseObject({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  echo: z.boolean().nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().min(1).nullish(),
  ...structuredOutputFields,
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const messageContent = z.union([z.string(), z.array(textPart)]).nullish();

export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: messageContent,
  name: z.string().nullish(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatCompletionRequestSchema = z.looseObject({
  ...samplingFields,
  messages: z.array(chatMessageSchema).min(1, 'messages must contain at least one message'),
  max_completion_tokens: z.number().int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  // vLLM extensions for chat.
  add_generation_prompt: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  ...structuredOutputFields,
  ...toolFields,
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
