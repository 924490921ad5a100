/**
 * `/v1/embeddings` on a host: every input is one engine request that computes its prompt once
 * (one sampled token, ignored) and comes back with the pooled final hidden state. Each reports
 * its end to the observer (the server's metrics) as a chat request does; not its token
 * timings, since it generates nothing.
 */
import { SamplingParams } from '../engine/sampling-params.js';
import { embeddingPrompts, finishEmbedding, parseEmbeddingsRequest, renderEmbeddings } from '../protocol/embeddings.js';
import { modelNotFound, toOpenAIError } from '../protocol/openai-error.js';
import type { ModelHost } from './model-host.js';
import type { RequestFinishedInfo, ServiceObserver } from './openai-service.js';
import type { Submission } from './serving-engine.js';

async function pooledOf(submission: Submission, numPromptTokens: number, observer: ServiceObserver): Promise<Float32Array> {
  const added = performance.now();
  let embedding: Float32Array | undefined;
  let finishReason: RequestFinishedInfo['finishReason'] = 'abort';
  try {
    for await (const output of submission.outputs) {
      embedding ??= output.embedding;
      if (output.finished) finishReason = output.outputs[0]?.finishReason ?? finishReason;
    }
  } catch (error) {
    finishReason = 'error';
    throw error;
  } finally {
    observer.finished?.({ finishReason, seconds: (performance.now() - added) / 1000, numPromptTokens, numGenerationTokens: 0 });
  }
  if (embedding === undefined) throw new Error('the request ended before its prompt was computed');
  return embedding;
}

export async function createEmbeddings(host: ModelHost, rawBody: unknown, signal?: AbortSignal, observer: ServiceObserver = {}): Promise<Record<string, unknown>> {
  const request = parseEmbeddingsRequest(rawBody);
  const adapter = host.resolveModel(request.model);
  if (adapter === undefined) throw modelNotFound(String(request.model));
  const prompts = await embeddingPrompts(request, { encode: host.promptContext().encode, maxModelLen: host.maxModelLen, modelVocabSize: host.spec.vocabSize, hiddenSize: host.spec.hiddenSize });
  const params = new SamplingParams({ maxTokens: 1, temperature: 0 });
  const submissions = host.serving.submitAll(
    prompts.map((promptTokenIds) => ({ promptTokenIds, params, adapter, signal, pooling: host.pooling })),
    toOpenAIError,
  );
  const pooled = await Promise.all(submissions.map((submission, i) => pooledOf(submission, (prompts[i] as number[]).length, observer)));
  const vectors = pooled.map((vector) => finishEmbedding(vector, request.dimensions));
  const numPromptTokens = prompts.reduce((sum, ids) => sum + ids.length, 0);
  return renderEmbeddings(request, request.model ?? host.servedModelName, vectors, numPromptTokens);
}
