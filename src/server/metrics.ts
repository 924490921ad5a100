/**
 * The server's /metrics: HTTP requests by endpoint and status, request timing histograms fed
 * by the service's observer hooks, and the engine's counters and gauges read at scrape time.
 * Names follow vLLM's (`vllm:num_requests_running` -> `swiftlet:num_requests_running`), so
 * a vLLM dashboard needs only the prefix changed.
 */
import type { EngineStats } from '../engine/engine.js';
import type { RequestFinishedInfo, ServiceObserver } from '../host/openai-service.js';
import { Histogram, LabeledValues, type Labels } from './prometheus.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

export class ServerMetrics implements ServiceObserver {
  readonly httpRequests = new LabeledValues('swiftlet:http_requests_total', 'HTTP requests by method, endpoint and status code.', 'counter');
  private readonly requestSuccess = new LabeledValues(
    'swiftlet:request_success_total',
    'Engine requests that ended, by finish reason (stop, length, abort, error).',
    'counter',
  );
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly labels: Labels;

  constructor(modelName: string) {
    this.labels = { model_name: modelName };
    this.ttft = new Histogram('swiftlet:time_to_first_token_seconds', 'Seconds from a request being added to its first token.', TTFT_BUCKETS, this.labels);
    this.itl = new Histogram('swiftlet:inter_token_latency_seconds', 'Seconds between two consecutive outputs of a request.', ITL_BUCKETS, this.labels);
    this.e2e = new Histogram('swiftlet:e2e_request_latency_seconds', 'Seconds from a request being added to its end.', E2E_BUCKETS, this.labels);
  }

  firstToken(seconds: number): void {
    this.ttft.observe(seconds);
  }

  interToken(seconds: number): void {
    this.itl.observe(seconds);
  }

  finished(info: RequestFinishedInfo): void {
    this.requestSuccess.inc({ ...this.labels, finished_reason: info.finishReason });
    this.e2e.observe(info.seconds);
  }

  countHttp(method: string, endpoint: string, status: number): void {
    this.httpRequests.inc({ method, endpoint, status: String(status) });
  }

  render(stats: EngineStats): string {
    const gauge = (name: string, help: string, value: number) => {
      const family = new LabeledValues(name, help, 'gauge');
      family.set(this.labels, value);
      return family.render();
    };
    const counter = (name: string, help: string, value: number) => {
      const family = new LabeledValues(name, help, 'counter');
      family.set(this.labels, value);
      return family.render();
    };
    const hitRate = stats.prefixCacheQueryTokens === 0 ? 0 : stats.prefixCacheHitTokens / stats.prefixCacheQueryTokens;
    return [
      gauge('swiftlet:num_requests_running', 'Sequences in the engine batch.', stats.numRunning),
      gauge('swiftlet:num_requests_waiting', 'Sequences waiting to be scheduled.', stats.numWaiting),
      gauge('swiftlet:kv_cache_usage_perc', 'Fraction of KV cache blocks in use (1 = full).', stats.numKvBlocksTotal === 0 ? 0 : stats.numKvBlocksUsed / stats.numKvBlocksTotal),
      gauge('swiftlet:kv_cache_blocks_used', 'KV cache blocks held by requests.', stats.numKvBlocksUsed),
      gauge('swiftlet:kv_cache_blocks_total', 'KV cache blocks in the pool.', stats.numKvBlocksTotal),
      counter('swiftlet:prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.', stats.prefixCacheQueryTokens),
      counter('swiftlet:prefix_cache_hits_total', 'Prompt tokens found in the prefix cache.', stats.prefixCacheHitTokens),
      gauge('swiftlet:prefix_cache_hit_rate', 'prefix_cache_hits_total / prefix_cache_queries_total since start.', hitRate),
      counter('swiftlet:num_preemptions_total', 'Sequences preempted to free KV blocks.', stats.numPreemptions),
      counter('swiftlet:prompt_tokens_total', 'Prompt tokens prefilled.', stats.promptTokensTotal),
      counter('swiftlet:generation_tokens_total', 'Tokens generated.', stats.generationTokensTotal),
      counter('swiftlet:engine_steps_total', 'Engine steps run.', stats.numStepsTotal),
      this.requestSuccess.render(),
      this.ttft.render(),
      this.itl.render(),
      this.e2e.render(),
      this.httpRequests.render(),
    ].join('');
  }
}
