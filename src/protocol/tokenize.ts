/**
 * vLLM's non-OpenAI request bodies: /tokenize (a completion prompt or chat messages),
 * /detokenize, and the run-time LoRA adapter endpoints.
 */
import { z } from 'zod';
import { chatMessageSchema } from './schemas.js';

const model = z.string().nullish();
const returnTokenStrs = z.boolean().nullish();

export const tokenizeCompletionSchema = z.looseObject({
  model,
  prompt: z.string(),
  add_special_tokens: z.boolean().nullish(),
  return_token_strs: returnTokenStrs,
});

export const tokenizeChatSchema = z.looseObject({
  model,
  messages: z.array(chatMessageSchema).min(1, 'messages must contain at least one message'),
  add_generation_prompt: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  tools: z.array(z.unknown()).nullish(),
  return_token_strs: returnTokenStrs,
});

export const detokenizeRequestSchema = z.looseObject({
  model,
  tokens: z.array(z.number().int().min(0)),
});

export const loadLoraAdapterRequestSchema = z.looseObject({
  lora_name: z.string().min(1),
  lora_path: z.string().min(1),
});

export const unloadLoraAdapterRequestSchema = z.looseObject({
  lora_name: z.string().min(1),
  lora_int_id: z.number().int().nullish(),
});
