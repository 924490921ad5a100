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

export const BUILTIN_TEMPLATES = {
  chatml: CHATML,
  qwen: QWEN,
  llama3: LLAMA3,
} as const;

export type BuiltinTemplateName = keyof typeof BUILTIN_TEMPLATES;

export function isBuiltinTemplateName(name: string): name is BuiltinTemplateName {
  return Object.hasOwn(BUILTIN_TEMPLATES, name);
}
