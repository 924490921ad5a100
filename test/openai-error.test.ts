import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError, QueueFullError } from '../src/engine/errors.js';
import { errorTypeOfStatus, invalidRequest, modelNotFound, OpenAIError, toOpenAIError } from '../src/protocol/openai-error.js';

test('bodies in OpenAI\'s shape: snake_case type, string-or-null code', () => {
  assert.deepEqual(invalidRequest("Invalid value: 'bogus'.", 'response_format.type', 'invalid_value').toBody(), {
    error: { message: "Invalid value: 'bogus'.", type: 'invalid_request_error', param: 'response_format.type', code: 'invalid_value' },
  });
  assert.deepEqual(modelNotFound('gpt-x').toBody(), {
    error: { message: 'The model `gpt-x` does not exist.', type: 'not_found_error', param: 'model', code: 'model_not_found' },
  });
  assert.equal(modelNotFound('m').status, 404);
});

test('type by status', () => {
  assert.deepEqual(
    [400, 401, 404, 413, 429, 500, 503].map(errorTypeOfStatus),
    ['invalid_request_error', 'authentication_error', 'not_found_error', 'invalid_request_error', 'rate_limit_error', 'server_error', 'service_unavailable_error'],
  );
});

test('other errors map onto it: one with a status keeps it, engine errors are 400, the rest 500', () => {
  const withStatus = Object.assign(new Error("adapter 'x' is not loaded"), { status: 404 });
  assert.deepEqual(toOpenAIError(withStatus).toBody().error, { message: "adapter 'x' is not loaded", type: 'not_found_error', param: null, code: null });
  const fromEngine = toOpenAIError(new InvalidRequestError('top_p must be in (0, 1]', 'top_p'));
  assert.deepEqual([fromEngine.status, fromEngine.param, fromEngine.type], [400, 'top_p', 'invalid_request_error']);
  const queueFull = toOpenAIError(new QueueFullError(3, 3));
  assert.deepEqual([queueFull.status, queueFull.type], [503, 'service_unavailable_error']);
  assert.equal(toOpenAIError('boom').toBody().error.type, 'server_error');
  const own = new OpenAIError(429, 'slow down');
  assert.equal(toOpenAIError(own), own);
});
