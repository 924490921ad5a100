/**
 * The library's request and response shapes, shared by the in-process Engine and the Client
 * of a deployed server: SWIFT's `InferRequest` / `RequestConfig` / response in TypeScript
 * style (camelCase), so code written against one runs against the other.
 */
import type { ChatMessage } from '../chat/conversation.js';
import type { StructuredOutputs } from './structured-outputs.js';

export type { ChatMessage } from '../chat/conversation.js';
export type { StructuredOutputs } from './structured-outputs.js';

/** Earlier turns as SWIFT keeps them: `[query, response]` pairs, oldest first. */
export type History = [string, string][];

/** SWIFT's record: a query, the turns before it and an optional system prompt. */
export interface QueryRequest {
  query: string;
  history?: ReadonlyArray<readonly [string, string]> | null;
  /** Leave out for the chat template's default system prompt; '' for none. */
  system?: string | null;
}

/** An OpenAI-style conversation ending with the user's turn. */
export interface MessagesRequest {
  messages: readonly ChatMessage[];
}

export type InferRequest = QueryRequest | MessagesRequest;

/**
 * Sampling and request options (SWIFT's RequestConfig; vLLM's sampling parameters). Anything
 * left out falls back to the model's generation_config.json, then to vLLM's defaults
 * (temperature 1, top-p 1). `maxTokens` defaults to the room the context leaves.
 */
export interface RequestConfig {
  maxTokens?: number;
  /** 0: greedy. */
  temperature?: number;
  topP?: number;
  /** 0 or -1: off. */
  topK?: number;
  minP?: number;
  /** The same seed and request give the same answer, whatever else runs at the time. */
  seed?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  minTokens?: number;
  stop?: string | readonly string[];
  stopTokenIds?: readonly number[];
  ignoreEos?: boolean;
  includeStopStrInOutput?: boolean;
  skipSpecialTokens?: boolean;
  /** Report the chosen tokens' logprobs, and `topLogprobs` alternatives each. */
  logprobs?: boolean;
  topLogprobs?: number;
  /**
   * Which model answers: a LoRA adapter's name (loaded with `loraModules` or `--lora-modules`),
   * or the base model's name; default: the base model (the Engine), the first model the
   * server lists (the Client).
   */
  model?: string;
  /** Further variables for the chat template, e.g. `{ enable_thinking: false }`. */
  chatTemplateKwargs?: Readonly<Record<string, unknown>>;
  /**
   * Constrains the answer, as the server's `structured_outputs` field: exactly one of a JSON
   * schema, a regex, a choice of strings, a grammar or any JSON object. One that does not
   * compile is an InferRequestError on `structured_outputs` before anything runs.
   */
  structuredOutputs?: StructuredOutputs;
  /** Stops the request: the answer so far comes back with finishReason 'abort'. */
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedTokens: number;
}

export interface TopLogprob {
  token: string;
  logprob: number;
  /** Known in process (the Engine); the Client sees token text only. */
  tokenId?: number;
}

export interface TokenLogprobInfo extends TopLogprob {
  topLogprobs: TopLogprob[];
}

export interface InferResponse {
  response: string;
  /** The request's history with this turn appended (SWIFT style). */
  history: History;
  /** The request's messages with the answer appended as an assistant message. */
  messages: ChatMessage[];
  finishReason: FinishReason;
  usage: Usage;
  /** The answer's token ids (the Engine; the Client does not see them). */
  tokenIds?: number[];
  /** One per answer token when `logprobs` was asked for, else null. */
  logprobs: TokenLogprobInfo[] | null;
}

/** One step of a streamed answer: what is new, and everything so far. */
export interface InferStreamChunk {
  /** Text new in this chunk. */
  delta: string;
  /** The answer so far (the whole answer in the last chunk). */
  response: string;
  /** Null until the last chunk. */
  finishReason: FinishReason | null;
  history: History;
  messages: ChatMessage[];
  usage: Usage;
  /** Token ids new in this chunk (the Engine). */
  tokenIds?: number[];
  /** Logprobs of the tokens new in this chunk, when asked for. */
  logprobs: TokenLogprobInfo[] | null;
}

/** What the Engine and the Client have in common: code can take either. */
export interface InferBackend {
  infer(requests: readonly InferRequest[], config?: RequestConfig): Promise<InferResponse[]>;
  inferStream(request: InferRequest, config?: RequestConfig): AsyncIterable<InferStreamChunk>;
}
