/**
 * Named model types, as SWIFT's `--model_type` names them: each is a hub id, the
 * architecture it loads as and the chat template to use when the checkpoint carries none.
 * `--model qwen2_5-7b-instruct` means `--model Qwen/Qwen2.5-7B-Instruct`; SWIFT's own types
 * (`qwen-7b-chat`, `chatglm3-6b`, ...) are spelled as SWIFT spells them, dashes or underscores.
 */
import { join } from 'node:path';
import type { BuiltinTemplateName } from '../chat/builtin.js';
import { packageRoot } from '../package-root.js';

export interface ModelType {
  /** What `--model` accepts, e.g. `qwen2_5-7b-instruct`. */
  name: string;
  /** The family as people call it, e.g. `Qwen2.5`. */
  family: string;
  /** `org/name` on the Hugging Face hub; null for the bundled demo model. */
  hubId: string | null;
  /** `architectures[0]` of its config.json. */
  architecture: string;
  /** Built-in template used when the checkpoint has no chat template of its own. */
  template: BuiltinTemplateName;
  /** Parameter count as the model card states it. */
  params: string;
  /** Gated on the hub: downloading needs HF_TOKEN and accepted terms. */
  gated?: boolean;
  /** `org/name` on ModelScope, where SWIFT downloads it from by default. */
  modelScopeId?: string;
  /** The prompt is built token by token (src/chat/chatglm3-input.ts), not by `template`. */
  chatFormat?: 'chatglm3';
  /** Weights swiftlet cannot load yet: refused at load with `notes` as the reason. */
  unsupportedWeights?: 'gptq';
  notes?: string;
}

export const DEMO_MODEL_TYPE = 'swiftlet-demo';

function qwen25(size: string, params: string): ModelType {
  return {
    name: `qwen2_5-${size.toLowerCase().replace('.', '_')}-instruct`,
    family: 'Qwen2.5',
    hubId: `Qwen/Qwen2.5-${size}-Instruct`,
    architecture: 'Qwen2ForCausalLM',
    template: 'qwen',
    params,
  };
}

function qwen3(size: string, params: string): ModelType {
  return {
    name: `qwen3-${size.toLowerCase().replace('.', '_')}`,
    family: 'Qwen3',
    hubId: `Qwen/Qwen3-${size}`,
    architecture: 'Qwen3ForCausalLM',
    template: 'chatml',
    params,
  };
}

function llama3(version: string, size: string, params: string): ModelType {
  return {
    name: `llama${version.replace('.', '_')}-${size.toLowerCase()}-instruct`,
    family: `Llama ${version}`,
    hubId: `meta-llama/Llama-${version}-${size}-Instruct`,
    architecture: 'LlamaForCausalLM',
    template: 'llama3',
    params,
    gated: true,
  };
}

function yi15(size: string, params: string): ModelType {
  return {
    name: `yi-1_5-${size.toLowerCase()}-chat`,
    family: 'Yi 1.5',
    hubId: `01-ai/Yi-1.5-${size}-Chat`,
    architecture: 'LlamaForCausalLM',
    template: 'chatml',
    params,
  };
}

/** The seven model types of SWIFT's deploy workflow, with SWIFT's names and hub ids. */
const SWIFT_SEED_TYPES: readonly ModelType[] = [
  {
    name: 'qwen-7b-chat',
    family: 'Qwen',
    hubId: 'Qwen/Qwen-7B-Chat',
    modelScopeId: 'qwen/Qwen-7B-Chat',
    architecture: 'QWenLMHeadModel',
    template: 'qwen',
    params: '7.7B',
    notes: 'qwen.tiktoken vocabulary; ChatML with the default system prompt, stops at <|im_end|>',
  },
  {
    name: 'qwen-7b',
    family: 'Qwen',
    hubId: 'Qwen/Qwen-7B',
    modelScopeId: 'qwen/Qwen-7B',
    architecture: 'QWenLMHeadModel',
    template: 'qwen',
    params: '7.7B',
    notes: 'base model: use completions (SWIFT: default-generation)',
  },
  {
    name: 'chatglm3-6b',
    family: 'ChatGLM3',
    hubId: 'THUDM/chatglm3-6b',
    modelScopeId: 'ZhipuAI/chatglm3-6b',
    architecture: 'ChatGLMModel',
    template: 'chatml',
    chatFormat: 'chatglm3',
    params: '6.2B',
    notes: 'SentencePiece tokenizer.model; prompt built as its build_chat_input, stops at </s>, <|user|>, <|observation|>',
  },
  {
    name: 'yi-6b-chat',
    family: 'Yi',
    hubId: '01-ai/Yi-6B-Chat',
    modelScopeId: '01ai/Yi-6B-Chat',
    architecture: 'LlamaForCausalLM',
    template: 'chatml',
    params: '6.1B',
  },
  {
    name: 'qwen1half-7b-chat',
    family: 'Qwen1.5',
    hubId: 'Qwen/Qwen1.5-7B-Chat',
    modelScopeId: 'qwen/Qwen1.5-7B-Chat',
    architecture: 'Qwen2ForCausalLM',
    template: 'qwen',
    params: '7.7B',
  },
  {
    name: 'qwen1half-7b-chat-int4',
    family: 'Qwen1.5',
    hubId: 'Qwen/Qwen1.5-7B-Chat-GPTQ-Int4',
    modelScopeId: 'qwen/Qwen1.5-7B-Chat-GPTQ-Int4',
    architecture: 'Qwen2ForCausalLM',
    template: 'qwen',
    params: '7.7B',
    unsupportedWeights: 'gptq',
    notes: 'needs GPTQ int4 weights, which swiftlet does not load yet (the quantized-weights issue); use qwen1half-7b-chat',
  },
  {
    name: 'llama2-7b-chat',
    family: 'Llama 2',
    hubId: 'meta-llama/Llama-2-7b-chat-hf',
    modelScopeId: 'modelscope/Llama-2-7b-chat-ms',
    architecture: 'LlamaForCausalLM',
    template: 'chatml',
    params: '6.7B',
    gated: true,
    notes: "the checkpoint's own [INST] template is used",
  },
  {
    name: 'llama3-8b-instruct',
    family: 'Llama 3',
    hubId: 'meta-llama/Meta-Llama-3-8B-Instruct',
    modelScopeId: 'LLM-Research/Meta-Llama-3-8B-Instruct',
    architecture: 'LlamaForCausalLM',
    template: 'llama3',
    params: '8.0B',
    gated: true,
  },
];

export const MODEL_TYPES: readonly ModelType[] = [
  {
    name: DEMO_MODEL_TYPE,
    family: 'swiftlet demo',
    hubId: null,
    architecture: 'Qwen2ForCausalLM',
    template: 'qwen',
    params: '3.4M',
  },
  qwen25('0.5B', '0.49B'),
  qwen25('1.5B', '1.5B'),
  qwen25('3B', '3.1B'),
  qwen25('7B', '7.6B'),
  qwen25('14B', '14.7B'),
  qwen25('32B', '32.5B'),
  qwen25('72B', '72.7B'),
  qwen3('0.6B', '0.6B'),
  qwen3('1.7B', '1.7B'),
  qwen3('4B', '4.0B'),
  qwen3('8B', '8.2B'),
  qwen3('14B', '14.8B'),
  qwen3('32B', '32.8B'),
  llama3('3.1', '8B', '8.0B'),
  llama3('3.1', '70B', '70.6B'),
  llama3('3.2', '1B', '1.2B'),
  llama3('3.2', '3B', '3.2B'),
  llama3('3.3', '70B', '70.6B'),
  yi15('6B', '6.1B'),
  yi15('9B', '8.8B'),
  yi15('34B', '34.4B'),
  {
    name: 'mistral-7b-instruct-v0_3',
    family: 'Mistral',
    hubId: 'mistralai/Mistral-7B-Instruct-v0.3',
    architecture: 'MistralForCausalLM',
    template: 'mistral',
    params: '7.2B',
  },
  ...SWIFT_SEED_TYPES,
];

/**
 * `Qwen2.5-7B-Instruct`, `qwen2.5-7b-instruct` and `qwen2_5-7b-instruct` are one name, and so
 * are SWIFT's `qwen-7b-chat` and its enum spelling `qwen_7b_chat`.
 */
function normalise(name: string): string {
  return name.toLowerCase().replace(/[._-]/g, '_');
}

const BY_NAME = new Map(MODEL_TYPES.map((type) => [normalise(type.name), type]));
const BY_HUB_ID = new Map(
  MODEL_TYPES.flatMap((type) => [type.hubId, type.modelScopeId].filter((id): id is string => id != null).map((id) => [id.toLowerCase(), type] as const)),
);

/** The model type `name` names (SWIFT spelling, `.` or `_`, any case), if any. */
export function findModelType(name: string): ModelType | undefined {
  return BY_NAME.get(normalise(name));
}

/** The model type whose hub id (Hugging Face or ModelScope) this is, if it is one of ours. */
export function modelTypeOfHubId(hubId: string): ModelType | undefined {
  return BY_HUB_ID.get(hubId.toLowerCase());
}

/** The bundled demo model (models/demo): what runs when no `--model` is given. */
export function demoModelDir(): string {
  return join(packageRoot(), 'models', 'demo');
}
