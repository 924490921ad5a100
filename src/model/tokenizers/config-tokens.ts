/** The special-token names a tokenizer_config.json gives (`bos_token`, `eos_token`, `pad_token`). */
import type { TokenizerConfig } from './types.js';

/** `tokenizer_config.json` spells a special token as a string, `{content: ...}`, or null. */
export function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as TokenizerConfig).content === 'string') {
    return (value as TokenizerConfig).content as string;
  }
  return undefined;
}

export interface ConfigTokens {
  bosToken: string | undefined;
  eosToken: string | undefined;
  padToken: string | undefined;
}

export function configTokens(config: TokenizerConfig): ConfigTokens {
  return { bosToken: tokenString(config.bos_token), eosToken: tokenString(config.eos_token), padToken: tokenString(config.pad_token) };
}
