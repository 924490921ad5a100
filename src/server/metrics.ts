/**
 * The server's /metrics: HTTP requests by endpoint and status, request timing histograms fed
 * by the service's observer hooks, and the engine's counters and gauges read at scrape time.
 *
 * Two sets of names. `swiftlet:` names give every engine its own sample (a `replica` label
 * with data-parallel replicas). `vllm:` names, with vLLM's types, meanings and `model_name`
 * label, give the pod's totals: an inference gateway (the Gateway API Inference Extension's
 * model-server protocol) reads one value per pod and must see the whole pod's queue and KV use.
 */
import type { EngineStats } from '../engine/engine.js';
import type { RequestFinishedInfo, ServiceObserver } from '../host/openai-service.js';
import { sumStats, type ReplicaState } from '../host/serving.js';
import { Histogram, LabeledValues, type Labels } from './prometheus.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

type Kind = 'counter' | 'gauge';

/** A scrape-time value of one engine's stats: name after the prefix, help, type, value. */
type StatMetric = [name: string, help: string, kind: Kind, value: (stats: EngineStats) => number];

function kvUsage(stats: EngineStats): number {
  return stats.numKvBlocksTotal === 0 ? 0 : stats.numKvBlocksUsed / stats.numKvBlocksTotal;
}

/** Under both prefixes: vLLM defines these with the same meaning. */
const SHARED_STATS: readonly StatMetric[] = [
  ['num_requests_running', 'Sequences in the engine batch.', 'gauge', (stats) => stats.numRunning],
  ['num_requests_waiting', 'Sequences waiting to be scheduled.', 'gauge', (stats) => stats.numWaiting],
  ['kv_cache_usage_perc', 'Fraction of KV cache blocks in use (1 = full).', 'gauge', kvUsage],
  ['prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.', 'counter', (stats) => stats.prefixCacheQueryTokens],
  ['prefix_cache_hits_total', 'Prompt tokens found in the prefix cache.', 'counter', (stats) => stats.prefixCacheHitTokens],
  ['num_preemptions_total', 'Sequences preempted to free KV blocks.', 'counter', (stats) => stats.numPreemptions],
  ['prompt_tokens_total', 'Prompt tokens prefilled.', 'counter', (stats) => stats.promptTokensTotal],
  ['generation_tokens_total', 'Tokens generated.', 'counter', (stats) => stats.generationTokensTotal],
];

/** swiftlet's own. */
const OWN_STATS: readonly StatMetric[] = [
  ['kv_cache_blocks_used', 'KV cache blocks held by requests.', 'gauge', (stats) => stats.numKvBlocksUsed],
  ['kv_cache_blocks_total', 'KV cache blocks in the pool.', 'gauge', (stats) => stats.numKvBlocksTotal],
  ['prefix_cache_hit_rate', 'prefix_cache_hits_total / prefix_cache_queries_total since start.', 'gauge', (stats) =>
    stats.prefixCacheQueryTokens === 0 ? 0 : stats.prefixCacheHitTokens / stats.prefixCacheQueryTokens],
  ['engine_steps_total', 'Engine steps run.', 'counter', (stats) => stats.numStepsTotal],
];

/** The same observations under `swiftlet:` and `vllm:` names. */
class TwinHistogram {
  private readonly pair: [Histogram, Histogram];

  constructor(name: string, help: string, buckets: readonly number[], labels: Labels) {
    this.pair = [new Histogram(`swiftlet:${name}`, help, buckets, labels), new Histogram(`vllm:${name}`, help, buckets, labels)];
  }

  observe(seconds: number): void {
    for (const histogram of this.pair) histogram.observe(seconds);
  }

  render(): string {
    return this.pair.map((histogram) => histogram.render()).join('');
  }
}

export class ServerMetrics implements ServiceObserver {
  readonly httpRequests = new LabeledValues('swiftlet:http_requests_total', 'HTTP requests by method, endpoint and status code.', 'counter');
  private readonly requestSuccess = ['swiftlet', 'vllm'].map((prefix) =>
    new LabeledValues(`${prefix}:request_success_total`, 'Engine requests that ended, by finish reason (stop, length, abort, error).', 'counter'));
  private readonly ttft: TwinHistogram;
  private readonly itl: TwinHistogram;
  private readonly e2e: TwinHistogram;
  private readonly labels: Labels;

  /** `maxLoras`: adapters resident at once, vLLM's max_lora label. */
  constructor(modelName: string, private readonly maxLoras: number) {
    this.labels = { model_name: modelName };
    this.ttft = new TwinHistogram('time_to_first_token_seconds', 'Seconds from a request being added to its first token.', TTFT_BUCKETS, this.labels);
    this.itl = new TwinHistogram('inter_token_latency_seconds', 'Seconds between two consecutive outputs of a request.', ITL_BUCKETS, this.labels);
    this.e2e = new TwinHistogram('e2e_request_latency_seconds', 'Seconds from a request being added to its end.', E2E_BUCKETS, this.labels);
  }

  firstToken(seconds: number): void {
    this.ttft.observe(seconds);
  }

  interToken(seconds: number): void {
    this.itl.observe(seconds);
  }

  finished(info: RequestFinishedInfo): void {
    for (const family of this.requestSuccess) family.inc({ ...this.labels, finished_reason: info.finishReason });
    this.e2e.observe(info.seconds);
  }

  countHttp(method: string, endpoint: string, status: number): void {
    this.httpRequests.inc({ method, endpoint, status: String(status) });
  }

  render(replicas: readonly ReplicaState[]): string {
    const labelsOf = (state: ReplicaState) => (state.replica === null ? this.labels : { ...this.labels, replica: String(state.replica) });
    const perEngine = [...SHARED_STATS, ...OWN_STATS].map(([name, help, kind, value]) => {
      const family = new LabeledValues(`swiftlet:${name}`, help, kind);
      for (const state of replicas) family.set(labelsOf(state), value(state.stats));
      return family.render();
    });
    const healthy = new LabeledValues('swiftlet:engine_healthy', 'Whether the engine serves (1) or is out of service (0).', 'gauge');
    for (const state of replicas) healthy.set(labelsOf(state), Number(state.isHealthy));
    const total = sumStats(replicas.map((state) => state.stats));
    const perPod = SHARED_STATS.map(([name, help, kind, value]) => {
      const family = new LabeledValues(`vllm:${name}`, help, kind);
      family.set(this.labels, value(total));
      return family.render();
    });
    return [
      ...perEngine,
      healthy.render(),
      ...perPod,
      this.loraInfo(replicas),
      ...this.requestSuccess.map((family) => family.render()),
      this.ttft.render(),
      this.itl.render(),
      this.e2e.render(),
      this.httpRequests.render(),
    ].join('');
  }

  /**
   * vLLM's `vllm:lora_requests_info`: a gauge whose value is the time of the report and whose
   * labels list the adapters. Every loaded adapter is resident and ready (swiftlet loads into a
   * slot at once, never queues for one), so waiting_lora_adapters is always empty.
   */
  private loraInfo(replicas: readonly ReplicaState[]): string {
    const running = new Set(replicas.flatMap((state) => (state.isHealthy ? state.adapterNames : [])));
    const family = new LabeledValues('vllm:lora_requests_info', 'Running stats on LoRA requests (value: the report time, seconds since the epoch).', 'gauge');
    family.set({ running_lora_adapters: [...running].join(','), max_lora: String(this.maxLoras), waiting_lora_adapters: '' }, Date.now() / 1000);
    return family.render();
  }
}
