/**
 * swiftlet as a library: `Engine` runs a model in process, `Client` talks to a deployed
 * server; both take the same requests (`{query, history, system}` or `{messages}`) and
 * config and give the same responses. The lower layers (ModelHost, LLMEngine, the server)
 * are exported for callers who need them.
 */
export { Engine, type EngineOptions } from './llm/engine.js';
export { InferRequestError } from './llm/errors.js';
export { historyOf } from './llm/conversation.js';
export type { EmbedInput, EmbedOptions, EmbedResult } from './llm/embeddings.js';
export type {
  ChatMessage,
  FinishReason,
  History,
  InferBackend,
  InferRequest,
  InferResponse,
  InferStreamChunk,
  MessagesRequest,
  QueryRequest,
  RequestConfig,
  StructuredOutputs,
  TokenLogprobInfo,
  TopLogprob,
  Usage,
} from './llm/types.js';

export { Client, ClientError, type ClientOptions, type ModelCard } from './client/client.js';

export { ChatTemplate, ChatTemplateError, type RenderOptions } from './chat/template.js';
export { ConversationError, swiftToMessages, type SwiftConversation } from './chat/conversation.js';
export { JsonTokenizer, loadTokenizer, type Tokenizer } from './model/tokenizer.js';
export { SamplingParams, type SamplingParamsInit } from './engine/sampling-params.js';
export { LLMEngine, type AddRequest, type EngineConfig, type EngineStats } from './engine/engine.js';
export type { CompletionOutput, RequestOutput } from './engine/output.js';
export { ModelHost, type Logger } from './host/model-host.js';
export type { EngineRequest, ServingEngine, Submission } from './host/serving-engine.js';
export type { ModelOptions } from './host/model-options.js';
export { startServer, type RunningServer, type ServerOptions } from './server/server.js';
