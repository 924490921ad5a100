/** The request errors every front end throws, as OpenAIError (openai-error.ts has the shape). */
import type { ZodError } from 'zod';
import { OpenAIError } from './openai-error.js';

export function badRequest(message: string, param: string | null = null): OpenAIError {
  return new OpenAIError(400, message, param);
}

export function notFound(message: string, param: string | null = null): OpenAIError {
  return new OpenAIError(404, message, param);
}

/** The first zod issue, phrased for a person: which field, what was wrong. */
export function fromZodError(error: ZodError): OpenAIError {
  const issue = error.issues[0];
  if (!issue) return badRequest('invalid request');
  const path = issue.path.map(String).join('.');
  return badRequest(path ? `${path}: ${issue.message}` : issue.message, path || null);
}
