/** Logprobs in the two shapes the OpenAI API uses: legacy completions and chat. */
import type { TokenLogprob } from './results.js';

export interface TokenNamer {
  decodeToken(id: number): string;
}

/** vLLM's `return_tokens_as_token_ids` renders tokens as `token_id:N`, so clients can map them back exactly. */
export function tokenName(namer: TokenNamer, id: number, asTokenIds: boolean): string {
  return asTokenIds ? `token_id:${id}` : namer.decodeToken(id);
}

/** JSON has no -Infinity; vLLM clamps to -9999 the same way. */
function finite(logprob: number): number {
  return Number.isFinite(logprob) ? logprob : -9999;
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/**
 * `entries` in order; null for the first prompt token with echo. `textOffset` is where the
 * first token's text starts in the choice's text (so streamed chunks continue the count).
 */
export function completionLogprobs(
  entries: { tokenId: number; logprob: TokenLogprob | null }[],
  namer: TokenNamer,
  asTokenIds: boolean,
  textOffset: number,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = textOffset;
  for (const { tokenId, logprob } of entries) {
    const token = tokenName(namer, tokenId, asTokenIds);
    out.tokens.push(token);
    out.text_offset.push(offset);
    offset += namer.decodeToken(tokenId).length;
    if (logprob === null) {
      out.token_logprobs.push(null);
      out.top_logprobs.push(null);
      continue;
    }
    out.token_logprobs.push(finite(logprob.logprob));
    // NOTE: as in vLLM, the chosen token is listed among the top ones even when it ranks lower.
    const top: Record<string, number> = {};
    for (const [id, lp] of logprob.top) top[tokenName(namer, id, asTokenIds)] = finite(lp);
    top[token] = finite(logprob.logprob);
    out.top_logprobs.push(top);
  }
  return out;
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

export function chatLogprobs(
  entries: TokenLogprob[],
  namer: TokenNamer,
  asTokenIds: boolean,
  numTop: number,
): { content: ChatTokenLogprob[]; refusal: null } {
  return {
    content: entries.map((entry) => {
      const token = tokenName(namer, entry.tokenId, asTokenIds);
      return {
        token,
        logprob: finite(entry.logprob),
        bytes: utf8Bytes(namer.decodeToken(entry.tokenId)),
        top_logprobs: entry.top.slice(0, numTop).map(([id, lp]) => ({
          token: tokenName(namer, id, asTokenIds),
          logprob: finite(lp),
          bytes: utf8Bytes(namer.decodeToken(id)),
        })),
      };
    }),
    refusal: null,
  };
}

/** vLLM's `prompt_logprobs`: per prompt token, the token and the top alternatives keyed by id. */
export type PromptLogprobsEntry = Record<string, { logprob: number; rank: number | null; decoded_token: string }> | null;

export function promptLogprobs(
  promptTokenIds: number[],
  entries: (TokenLogprob | null)[],
  namer: TokenNamer,
  asTokenIds: boolean,
): PromptLogprobsEntry[] {
  return promptTokenIds.map((tokenId, i) => {
    const entry = entries[i];
    if (!entry) return null;
    const out: NonNullable<PromptLogprobsEntry> = {};
    entry.top.forEach(([id, lp], rank) => {
      out[String(id)] = { logprob: finite(lp), rank: rank + 1, decoded_token: tokenName(namer, id, asTokenIds) };
    });
    // NOTE: the runner reports ranks only within the top k; a prompt token outside it has none.
    out[String(tokenId)] ??= { logprob: finite(entry.logprob), rank: null, decoded_token: tokenName(namer, tokenId, asTokenIds) };
    return out;
  });
}
