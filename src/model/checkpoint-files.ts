/** The files of a Hugging Face checkpoint directory besides its weights. */

/** Tokenizer, template and generation files: fetched with a model, copied by exports. */
export const CHECKPOINT_SIDE_FILES: readonly string[] = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'qwen.tiktoken',
];
