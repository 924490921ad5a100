/**
 * One sequence the scheduler runs: a prompt, the tokens generated so far, and how many of
 * them are in the KV cache (`numComputedTokens` catches up with `numTokens`; there is no
 * separate prefill or decode phase). A request with n > 1 is n of these (see parent-request.ts).
 */
import type { SamplingParams } from './sampling-params.js';
import type { PoolingMode } from '../model/pooling-config.js';
import { PooledHiddenState } from './pooling.js';
import { hashString } from './block-pool.js';
import type { SequenceRope } from './dynamic-ntk.js';

export enum RequestStatus {
  WAITING = 'waiting',
  RUNNING = 'running',
  PREEMPTED = 'preempted',
  FINISHED_STOPPED = 'finished_stopped',
  FINISHED_LENGTH = 'finished_length',
  FINISHED_ABORTED = 'finished_aborted',
}

/** NOTE: the only legal transitions; everything else is a bug and throws. */
const TRANSITIONS: Readonly<Record<RequestStatus, readonly RequestStatus[]>> = {
  [RequestStatus.WAITING]: [RequestStatus.RUNNING, RequestStatus.FINISHED_ABORTED],
  [RequestStatus.RUNNING]: [
    RequestStatus.PREEMPTED,
    RequestStatus.FINISHED_STOPPED,
    RequestStatus.FINISHED_LENGTH,
    RequestStatus.FINISHED_ABORTED,
  ],
  [RequestStatus.PREEMPTED]: [RequestStatus.RUNNING, RequestStatus.FINISHED_ABORTED],
  [RequestStatus.FINISHED_STOPPED]: [],
  [RequestStatus.FINISHED_LENGTH]: [],
  [RequestStatus.FINISHED_ABORTED]: [],
};

export type FinishReason = 'stop' | 'length' | 'abort';

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
  /** The top k of the distribution, most likely first. */
  top: [tokenId: number, logprob: number][];
}

export interface RequestInit {
  requestId: string;
  parentId: string;
  /** Which of the parent's n samples this is. */
  index: number;
  promptTokenIds: readonly number[];
  params: SamplingParams;
  /** Generation stops here (prompt + max_tokens, capped by max_model_len). */
  maxTokens: number;
  adapterSlot: number;
  /** Identity of the adapter for block hashes (not the slot: a slot may be reloaded). */
  adapterHash: number;
  arrivalIndex: number;
  /** n > 1: wait until this sibling has put the prompt's full blocks in the prefix cache. */
  prefixSource: Request | null;
  /** An embedding request: how its prompt's final hidden states are pooled. */
  pooling?: PoolingMode | null;
  /** Its own rotary, on a model that scales rope per sequence (Qwen v1's dynamic NTK); else null. */
  rope?: SequenceRope | null;
}

export class Request {
  readonly requestId: string;
  readonly parentId: string;
  readonly index: number;
  readonly params: SamplingParams;
  readonly numPromptTokens: number;
  readonly maxTokens: number;
  readonly adapterSlot: number;
  readonly adapterHash: number;
  readonly rope: SequenceRope | null;
  /**
   * What a cached block's K and V depend on besides its tokens: the adapter, and the NTK alpha that
   * rotated K (blocks of sequences with different alphas must never be shared).
   */
  readonly blockHashSalt: number;
  readonly arrivalIndex: number;
  readonly prefixSource: Request | null;
  /** Prompt then outputs; append-only. */
  readonly allTokenIds: number[];
  readonly outputTokenIds: number[] = [];
  /** Hashes of full blocks of allTokenIds, filled lazily by the KV cache manager; tokens are append-only so they stay valid. */
  readonly blockHashes: number[] = [];
  status = RequestStatus.WAITING;
  numComputedTokens = 0;
  /** Prompt tokens found in the prefix cache the first time it was scheduled. */
  numCachedPromptTokens = 0;
  isScheduledOnce = false;
  numPreemptions = 0;
  /** Prompt logprobs known so far; index 0 is null (no distribution precedes the first token). */
  readonly promptLogprobs: (TokenLogprob | null)[] | null;
  /** An embedding request's pooled hidden state so far; null for other requests. */
  readonly pooled: PooledHiddenState | null;
  stopReason: string | number | null = null;
  /**
   * Asynchronous scheduling: the row of a launched step that samples this sequence's next token,
   * which the engine has not seen yet; -1 when none is pending.
   */
  pendingSampleRow = -1;

  constructor(init: RequestInit) {
    this.requestId = init.requestId;
    this.parentId = init.parentId;
    this.index = init.index;
    this.params = init.params;
    this.numPromptTokens = init.promptTokenIds.length;
    this.maxTokens = init.maxTokens;
    this.adapterSlot = init.adapterSlot;
    this.adapterHash = init.adapterHash;
    this.rope = init.rope ?? null;
    const ntkAlpha = this.rope?.ntkAlpha ?? 1;
    this.blockHashSalt = ntkAlpha === 1 ? this.adapterHash : hashString(`${this.adapterHash}:ntk-alpha:${ntkAlpha}`);
    this.arrivalIndex = init.arrivalIndex;
    this.prefixSource = init.prefixSource;
    this.allTokenIds = [...init.promptTokenIds];
    this.promptLogprobs = init.params.promptLogprobs === null ? null : [null];
    this.pooled = init.pooling ? new PooledHiddenState(init.pooling, this.numPromptTokens) : null;
  }

  get numTokens(): number {
    return this.allTokenIds.length;
  }

  get numOutputTokens(): number {
    return this.outputTokenIds.length;
  }

  /** 1 while a token is pending (the scheduler counts it as a token to compute), else 0. */
  get numPendingTokens(): number {
    return this.pendingSampleRow >= 0 ? 1 : 0;
  }

  /** Tokens once the pending one (asynchronous scheduling) has arrived. */
  get numTokensAhead(): number {
    return this.allTokenIds.length + this.numPendingTokens;
  }

  get numOutputTokensAhead(): number {
    return this.outputTokenIds.length + this.numPendingTokens;
  }

  /** A launched step's row `row` samples this sequence's next token. */
  expectSample(row: number): void {
    this.pendingSampleRow = row;
  }

  /** That step's output has been seen (its token appended, or the sequence ended). */
  clearPendingSample(): void {
    this.pendingSampleRow = -1;
  }

  get isFinished(): boolean {
    const status = this.status;
    return (
      status === RequestStatus.FINISHED_STOPPED || status === RequestStatus.FINISHED_LENGTH || status === RequestStatus.FINISHED_ABORTED
    );
  }

  get isPromptLogprobsComplete(): boolean {
    return this.promptLogprobs === null || this.promptLogprobs.length >= this.numPromptTokens;
  }

  get finishReason(): FinishReason | null {
    switch (this.status) {
      case RequestStatus.FINISHED_STOPPED:
        return 'stop';
      case RequestStatus.FINISHED_LENGTH:
        return 'length';
      case RequestStatus.FINISHED_ABORTED:
        return 'abort';
      default:
        return null;
    }
  }

  appendOutputToken(tokenId: number): void {
    this.outputTokenIds.push(tokenId);
    this.allTokenIds.push(tokenId);
  }

  transition(to: RequestStatus): void {
    if (!TRANSITIONS[this.status].includes(to)) {
      throw new Error(`request ${this.requestId}: illegal transition ${this.status} -> ${to}`);
    }
    if (to === RequestStatus.PREEMPTED) {
      // NOTE: its blocks are freed; it recomputes prompt + outputs so far when resumed.
      this.numComputedTokens = 0;
      this.numPreemptions++;
      this.pooled?.reset();
    }
    this.status = to;
  }
}
