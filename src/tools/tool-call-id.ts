/** OpenAI-style tool call ids: `call_` and 24 random alphanumerics. */
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export type ToolCallIdSource = () => string;

export const randomToolCallId: ToolCallIdSource = () => {
  const bytes = randomBytes(24);
  let id = 'call_';
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
};
