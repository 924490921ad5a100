/** Errors the library API throws at its callers. */
import { ConversationError } from '../chat/conversation.js';
import { ChatTemplateError } from '../chat/template.js';
import { InvalidRequestError } from '../engine/errors.js';
import { OpenAIError } from '../protocol/openai-error.js';

/**
 * The caller's mistake: a malformed request, a prompt longer than the context, a bad sampling
 * value, an unknown adapter. `param` names the field (OpenAI's wire name) when one is to blame;
 * `index` is the request's position in an `infer([...])` list.
 */
export class InferRequestError extends Error {
  override name = 'InferRequestError';
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly index: number | null = null,
    options?: ErrorOptions,
  ) {
    super(index === null ? message : `requests[${index}]: ${message}`, options);
  }

  /** Tags an error from one request of a list with its index. */
  withIndex(index: number): InferRequestError {
    return new InferRequestError(this.message, this.param, index, { cause: this.cause ?? this });
  }
}

/** Engine, template and conversation errors that are the caller's mistake, as InferRequestError. */
export function asInferRequestError(error: unknown): unknown {
  if (error instanceof InferRequestError) return error;
  if (error instanceof InvalidRequestError) return new InferRequestError(error.message, error.param, null, { cause: error });
  if (error instanceof ConversationError || error instanceof ChatTemplateError) {
    return new InferRequestError(error.message, 'messages', null, { cause: error });
  }
  if (error instanceof OpenAIError && error.status < 500) return new InferRequestError(error.message, error.param, null, { cause: error });
  return error;
}
