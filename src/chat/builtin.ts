/**
 * Named chat templates for checkpoints whose tokenizer_config.json carries none (base models,
 * older exports), chosen by name as SWIFT's `--template` does. Jinja, rendered like any other.
 */

const CHATML = String.raw`{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}`;

/** Qwen's ChatML: a conversation without a system message gets Qwen's default one. */
const QWEN =
  String.raw`{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{%- endif %}` +
  CHATML;

/** Meta's Llama 3 Instruct template: BOS once at the start, content trimmed. */
const LLAMA3 = String.raw`{%- for message in messages %}{%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}{%- if loop.index0 == 0 %}{%- set content = bos_token + content %}{%- endif %}{{- content }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}`;

/** Mistral Instruct v0.3: `[INST]` turns; a system message goes before the last user message, as Mistral's own template does. */
const MISTRAL = String.raw`{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- set loop_messages = messages %}{%- endif %}{{- bos_token }}{%- for message in loop_messages %}{%- if message['role'] == 'user' %}{%- if loop.last and system_message != '' %}{{- '[INST] ' + system_message + '

' + message['content'] + '[/INST]' }}{%- else %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token }}{%- endif %}{%- endfor %}`;

export const BUILTIN_TEMPLATES = {
  chatml: CHATML,
  qwen: QWEN,
  llama3: LLAMA3,
  mistral: MISTRAL,
} as const;

export type BuiltinTemplateName = keyof typeof BUILTIN_TEMPLATES;

/** The template a tokenizer class's own chat code renders (Qwen v1's make_context), ChatML when none is known. */
export function builtinTemplateForTokenizer(tokenizerClass: unknown): BuiltinTemplateName {
  return tokenizerClass === 'QWenTokenizer' ? 'qwen' : 'chatml';
}

export function isBuiltinTemplateName(name: string): name is BuiltinTemplateName {
  return Object.hasOwn(BUILTIN_TEMPLATES, name);
}
