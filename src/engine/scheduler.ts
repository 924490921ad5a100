/**
 * Continuous batching. Each step hands out a token budget: running requests first (one
 * token each when decoding, a chunk when a long prompt is still being computed), then
 * waiting ones in arrival order, chunking long prompts into what is left. When blocks run
 * out, the newest running request is preempted and recomputed later.
 */
import { KV_BLOCK_SIZE } from '../runtime/types.js';
import { RequestTooLongError } from './errors.js';
import type { KvCacheManager } from './kv-cache-manager.js';
import { NO_COMPUTED_BLOCKS } from './kv-cache-manager.js';
import { Request, RequestStatus } from './request.js';
import type { SpeculativeConfig } from './speculative/config.js';
import { proposeNgramDrafts } from './speculative/ngram-proposer.js';
import { isVerifiableByArgmax } from './speculative/verifiable.js';

export interface SchedulerConfig {
  /** Most sequences in one step. */
  maxNumSeqs: number;
  /** Token budget of one step. */
  maxNumBatchedTokens: number;
  /** Prompt + output never exceed this. */
  maxModelLen: number;
  /** Split prompts into the step's remaining budget (otherwise a prompt goes in one step). */
  enableChunkedPrefill: boolean;
  /**
   * With chunked prefill, no prompt takes more than this many tokens of one step (0: no cap),
   * as vLLM's long_prefill_token_threshold: a short prompt arriving behind a long one then
   * gets budget in the very next step instead of waiting for the whole long prefill.
   */
  longPrefillTokenThreshold?: number;
  /** Prompt-lookup drafts for decoding sequences (null or absent: one token per step). */
  speculative?: SpeculativeConfig | null;
}

export interface ScheduledSequence {
  request: Request;
  /** numComputedTokens before this step: the position of the first new token. */
  start: number;
  numNewTokens: number;
  /** The step reaches the sequence's last token, so its distribution is sampled. */
  doSample: boolean;
  /**
   * Draft tokens computed after the sequence's last token (the last numNewTokens positions):
   * guesses, not part of the request until verified. Empty without speculation.
   */
  draftTokenIds: readonly number[];
}

export interface SchedulerOutput {
  scheduled: ScheduledSequence[];
  numScheduledTokens: number;
  preempted: Request[];
}

export class Scheduler {
  /** Arrival order, except that preempted requests go back to the front. */
  private waiting: Request[] = [];
  /** Order of (re)admission: the last is the newest, preempted first. */
  private running: Request[] = [];
  numPreemptions = 0;

  constructor(
    readonly config: SchedulerConfig,
    readonly kv: KvCacheManager,
  ) {}

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get hasUnfinished(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Throws when a request of this size could never run, whatever else is in the engine. */
  checkFits(numPromptTokens: number, maxTokens: number): void {
    const { maxModelLen, maxNumBatchedTokens, enableChunkedPrefill } = this.config;
    const numTokens = numPromptTokens + maxTokens;
    if (numPromptTokens >= maxModelLen || numTokens > maxModelLen) {
      throw new RequestTooLongError(
        `this model's maximum context length is ${maxModelLen} tokens, but the request needs ` +
          `${numTokens} (${numPromptTokens} in the prompt, ${maxTokens} for the completion)`,
        numTokens,
        maxModelLen,
      );
    }
    // NOTE: the last generated token is never computed, so it needs no KV slot.
    const numKvTokens = numTokens - 1;
    const numBlocks = Math.ceil(numKvTokens / KV_BLOCK_SIZE);
    if (numBlocks > this.kv.pool.numBlocks) {
      const limit = this.kv.pool.numBlocks * KV_BLOCK_SIZE;
      throw new RequestTooLongError(
        `the request needs ${numKvTokens} tokens of KV cache (${numPromptTokens} in the prompt, ${maxTokens} for the ` +
          `completion), more than the KV cache holds (${this.kv.pool.numBlocks} blocks = ${limit} tokens)`,
        numKvTokens,
        limit,
      );
    }
    if (!enableChunkedPrefill && numKvTokens > maxNumBatchedTokens) {
      throw new RequestTooLongError(
        `the request needs ${numKvTokens} tokens in one step but chunked prefill is off and ` +
          `max_num_batched_tokens is ${maxNumBatchedTokens}`,
        numKvTokens,
        maxNumBatchedTokens,
      );
    }
  }

  add(request: Request): void {
    this.waiting.push(request);
  }

  /**
   * The next step. `canPreempt` false (asynchronous scheduling, while a step is in flight): a
   * running request that finds no free blocks ends the call with nothing scheduled instead of
   * preempting, since a preempted request would lose the token its step in flight samples
   * (blocks already taken for the requests before it stay theirs: allocate() only tops a request
   * up to what it needs).
   */
  schedule(canPreempt = true): SchedulerOutput {
    const { maxNumSeqs, maxNumBatchedTokens, enableChunkedPrefill } = this.config;
    const scheduled: ScheduledSequence[] = [];
    const preempted: Request[] = [];
    let budget = maxNumBatchedTokens;
    const threshold = enableChunkedPrefill ? (this.config.longPrefillTokenThreshold ?? 0) : 0;
    const chunkCap = threshold > 0 ? threshold : Number.POSITIVE_INFINITY;

    for (let i = 0; i < this.running.length && budget > 0; ) {
      const request = this.running[i] as Request;
      // NOTE: its token in flight is its last (max_tokens): nothing after it will be kept.
      if (request.numPendingTokens > 0 && request.numOutputTokensAhead >= request.maxTokens) {
        i++;
        continue;
      }
      const drafts = this.draftsFor(request, budget);
      if (drafts.length > 0) {
        this.kv.allocate(request, 1 + drafts.length);
        scheduled.push(this.scheduledSequence(request, 1, drafts));
        budget -= 1 + drafts.length;
        i++;
        continue;
      }
      const numNewTokens = Math.min(request.numTokensAhead - request.numComputedTokens, budget, chunkCap);
      if (!enableChunkedPrefill && numNewTokens < request.numTokensAhead - request.numComputedTokens) break;
      if (!canPreempt && !this.kv.canAllocate(request, numNewTokens)) {
        return { scheduled: [], numScheduledTokens: 0, preempted };
      }
      let isAllocatable = true;
      while (!this.kv.canAllocate(request, numNewTokens)) {
        // NOTE: the newest running request is at the tail and not yet scheduled this step.
        const victim = this.running.pop() as Request;
        this.preempt(victim);
        preempted.push(victim);
        if (victim === request) {
          isAllocatable = false;
          break;
        }
      }
      if (!isAllocatable) break;
      this.kv.allocate(request, numNewTokens);
      scheduled.push(this.scheduledSequence(request, numNewTokens));
      budget -= numNewTokens;
      i++;
    }

    // NOTE: no admissions in a step that had to preempt: memory is short.
    for (let i = 0; preempted.length === 0 && i < this.waiting.length; ) {
      if (budget === 0 || this.running.length >= maxNumSeqs) break;
      const request = this.waiting[i] as Request;
      if (!this.isReady(request)) {
        i++;
        continue;
      }
      const computed = this.kv.getComputedBlocks(request);
      const numGap = request.numTokens - computed.numTokens;
      if (!enableChunkedPrefill && numGap > budget) break;
      const numNewTokens = Math.min(numGap, budget, chunkCap);
      if (!this.kv.canAllocate(request, numNewTokens, computed)) break;
      this.kv.allocate(request, numNewTokens, computed);
      if (computed !== NO_COMPUTED_BLOCKS) this.kv.pool.recordPrefixQuery(request.numTokens, computed.numTokens);
      request.numComputedTokens = computed.numTokens;
      if (!request.isScheduledOnce) {
        request.isScheduledOnce = true;
        request.numCachedPromptTokens = computed.numTokens;
      }
      this.waiting.splice(i, 1);
      request.transition(RequestStatus.RUNNING);
      this.running.push(request);
      scheduled.push(this.scheduledSequence(request, numNewTokens));
      budget -= numNewTokens;
    }

    return { scheduled, numScheduledTokens: maxNumBatchedTokens - budget, preempted };
  }

  /**
   * After the runner has written the step's KV: advance computed counts and publish full
   * blocks. Draft positions count only once acceptDrafts() has verified them.
   */
  commit(output: SchedulerOutput): void {
    for (const { request, numNewTokens, draftTokenIds } of output.scheduled) {
      if (request.isFinished) continue;
      request.numComputedTokens += numNewTokens - draftTokenIds.length;
      this.kv.cacheComputedBlocks(request);
    }
  }

  /**
   * The first `numAccepted` drafts of a committed step were the model's own choices (and are
   * now the request's tokens): their KV stays. The rest is rolled back: their slots will be
   * overwritten, blocks holding nothing but them go back to the pool, and the prefix cache
   * never sees them (only blocks full of computed tokens are published).
   */
  acceptDrafts(request: Request, numAccepted: number): void {
    if (request.isFinished) return;
    request.numComputedTokens += numAccepted;
    this.kv.cacheComputedBlocks(request);
    this.kv.freeBlocksAfter(request, request.numComputedTokens);
  }

  /** Ends a request in any live state; frees its blocks at once. */
  finish(request: Request, status: RequestStatus): void {
    if (request.isFinished) return;
    request.transition(status);
    this.kv.free(request);
    removeFrom(this.running, request) || removeFrom(this.waiting, request);
  }

  private preempt(request: Request): void {
    this.kv.free(request);
    request.transition(RequestStatus.PREEMPTED);
    this.numPreemptions++;
    this.waiting.unshift(request);
  }

  /** n > 1 siblings wait until the first has cached the prompt's full blocks, then share them. */
  private isReady(request: Request): boolean {
    const source = request.prefixSource;
    if (source === null || source.isFinished || !this.kv.enablePrefixCaching) return true;
    const numShared = Math.floor((request.numPromptTokens - 1) / KV_BLOCK_SIZE) * KV_BLOCK_SIZE;
    return source.numComputedTokens >= numShared;
  }

  private scheduledSequence(request: Request, numNewTokens: number, draftTokenIds: readonly number[] = NO_DRAFTS): ScheduledSequence {
    const start = request.numComputedTokens;
    return {
      request,
      start,
      numNewTokens: numNewTokens + draftTokenIds.length,
      doSample: start + numNewTokens === request.numTokensAhead,
      draftTokenIds,
    };
  }

  /**
   * Drafts for a decoding sequence, when speculation is on, the request can be verified and
   * its drafts fit: in the budget, in max_tokens (a step emits at most drafts + 1 tokens) and
   * in free blocks (speculation never preempts anyone).
   */
  private draftsFor(request: Request, budget: number): readonly number[] {
    const config = this.config.speculative;
    if (config === null || config === undefined) return NO_DRAFTS;
    if (request.numTokens - request.numComputedTokens !== 1 || !isVerifiableByArgmax(request)) return NO_DRAFTS;
    const maxDrafts = Math.min(budget - 1, request.maxTokens - request.numOutputTokens - 1);
    const drafts = proposeNgramDrafts(request.allTokenIds, config, maxDrafts);
    return drafts.length > 0 && this.kv.canAllocate(request, 1 + drafts.length) ? drafts : NO_DRAFTS;
  }
}

const NO_DRAFTS: readonly number[] = Object.freeze([]);

function removeFrom(list: Request[], request: Request): boolean {
  const i = list.indexOf(request);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
