/**
 * LLMEngine: requests in, delta outputs out. One loop owns the scheduler; each step is
 * schedule() -> await runner.execute(batch) -> postprocess(), so the event loop stays free while
 * the device works. The loop stops when idle and restarts on add(). A constrained request
 * (structured outputs) joins the scheduler once its grammar has compiled; a step with one hands
 * the runner its grammar masks late (executeWithLateBitmask): they are filled on the JS thread
 * while the forward pass runs, and only the sampler waits for them (bench/structured-mask.ts
 * measures what they still cost).
 *
 * With asyncScheduling (vLLM's --async-scheduling) a step is launched before the previous one's
 * output is back: step N+1 is scheduled and built assuming each sequence step N samples gets
 * exactly one token, which the runner feeds in from N's samples (StepBatch.previousSampledRow);
 * N's output is postprocessed while N+1 runs, and a token N+1 computed for a sequence that N
 * ended is dropped. run-ahead.ts says which steps fall back to the one-at-a-time loop.
 */
import { KV_BLOCK_SIZE, type FillTokenBitmask, type ModelRunner, type StepBatch, type StepOutput } from '../runtime/types.js';
import { BlockPool, hashString } from './block-pool.js';
import { DynamicNtkRope } from './dynamic-ntk.js';
import type { EngineTokenizer } from './engine-tokenizer.js';
import { InvalidRequestError, QueueFullError } from './errors.js';
import { KvCacheManager } from './kv-cache-manager.js';
import { accumulateOutputs, type RequestOutput } from './output.js';
import { ParentRequest } from './parent-request.js';
import type { PoolingMode } from '../model/pooling-config.js';
import { Request, RequestStatus, type TokenLogprob } from './request.js';
import { SamplingParams } from './sampling-params.js';
import { Scheduler, type SchedulerOutput } from './scheduler.js';
import type { SpeculativeConfig } from './speculative/config.js';
import { canRunAhead } from './run-ahead.js';
import { StepBatchBuilder, type BuiltStep } from './step-batch.js';
import { StopChecker } from './stop-checker.js';
import { StructuredOutputManager } from './structured-output-manager.js';
import type { CompiledGrammar } from './structured/compiler.js';
import type { StructuredOutputSpec } from './structured/spec.js';

export interface EngineConfig {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  /** Defaults to the model's max_position_embeddings, capped by what the KV cache holds. */
  maxModelLen: number;
  enableChunkedPrefill: boolean;
  /** Cap on one prompt's chunk per step (0: none); defaults to a quarter of the step budget. */
  longPrefillTokenThreshold: number;
  enablePrefixCaching: boolean;
  /** Sequences allowed to wait; add() throws QueueFullError beyond it. */
  maxWaiting: number;
  /** Largest logprobs / prompt_logprobs a request may ask for (vLLM's max_logprobs). */
  maxLogprobs: number;
  /** Defaults to the model spec's (generation_config's) EOS ids. */
  eosTokenIds: readonly number[];
  /** Use fewer KV blocks than the runner has (tests, memory headroom). */
  numKvBlocks: number;
  /** Run steps on their own whenever there is work; false: the caller drives step(). */
  autoStep: boolean;
  /** Prompt-lookup speculative decoding (vLLM's --speculative-config); null: off. */
  speculative: SpeculativeConfig | null;
  /** Launch each step before the previous one's output is back (vLLM's --async-scheduling); needs a runner that supports it. */
  asyncScheduling: boolean;
}

/** A step handed to the runner whose output the engine has not postprocessed yet. */
interface LaunchedStep {
  output: SchedulerOutput;
  built: BuiltStep;
  result: Promise<StepOutput>;
}

export interface AddRequest {
  requestId: string;
  promptTokenIds: readonly number[];
  params?: SamplingParams;
  /** Runner adapter slot; -1 or absent for the base model. */
  adapterSlot?: number;
  /** The adapter's identity for the prefix cache (e.g. its name); defaults to the slot. */
  adapterKey?: string;
  /** An embedding request: its finished output carries the prompt's pooled final hidden state. */
  pooling?: PoolingMode;
}

export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  numKvBlocksUsed: number;
  numKvBlocksTotal: number;
  prefixCacheQueryTokens: number;
  prefixCacheHitTokens: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
  numPreemptions: number;
  numStepsTotal: number;
  /** Draft tokens proposed and verified so far, and how many of them the model agreed with. */
  numDraftTokensTotal: number;
  numAcceptedDraftTokensTotal: number;
}

export class LLMEngine {
  readonly config: EngineConfig;
  private readonly pool: BlockPool;
  private readonly scheduler: Scheduler;
  /** One per step that can be in flight: a builder reuses its arrays only after its last step ran. */
  private readonly stepBuilders: StepBatchBuilder[];
  private numBuilt = 0;
  /** Asynchronous scheduling: the step in flight, already committed, not yet postprocessed. */
  private launched: LaunchedStep | null = null;
  /** Null unless the model scales rope per sequence (Qwen v1's dynamic NTK). */
  private readonly dynamicNtk: DynamicNtkRope | null;
  private readonly parents = new Map<string, ParentRequest>();
  private readonly pendingAborts = new Set<string>();
  private readonly structured: StructuredOutputManager;
  /** Constrained requests whose grammar is still compiling: not yet in the scheduler. */
  private readonly pendingGrammars = new Set<Promise<void>>();
  /** Parents with news this step, in the order they got it; reused from step to step. */
  private readonly touchedParents: ParentRequest[] = [];
  private numPostprocessed = 0;
  private isStepping = false;
  private isLoopRunning = false;
  private numArrivals = 0;
  private promptTokensTotal = 0;
  private generationTokensTotal = 0;
  private numStepsTotal = 0;
  private numDraftTokensTotal = 0;
  private numAcceptedDraftTokensTotal = 0;

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: EngineTokenizer,
    config: Partial<EngineConfig> = {},
  ) {
    const spec = runner.spec;
    const numKvBlocks = config.numKvBlocks ?? runner.numKvBlocks;
    const maxNumBatchedTokens = config.maxNumBatchedTokens ?? 2048;
    this.config = {
      maxNumSeqs: 256,
      maxNumBatchedTokens,
      longPrefillTokenThreshold: Math.max(Math.floor(maxNumBatchedTokens / 4), 1),
      // NOTE: as vLLM, no longer than the KV cache can hold, so a request without max_tokens can run.
      maxModelLen: Math.min(spec.maxPositionEmbeddings, numKvBlocks * KV_BLOCK_SIZE),
      enableChunkedPrefill: true,
      enablePrefixCaching: true,
      maxWaiting: Number.POSITIVE_INFINITY,
      maxLogprobs: 20,
      eosTokenIds: spec.eosTokenIds,
      numKvBlocks,
      autoStep: true,
      speculative: null,
      asyncScheduling: false,
      ...config,
    };
    if (this.config.asyncScheduling && runner.supportsAsyncScheduling !== true) {
      throw new Error(`asynchronous scheduling needs a runner that supports it; the ${runner.device} runner here does not`);
    }
    if (this.config.numKvBlocks > runner.numKvBlocks) {
      throw new Error(`numKvBlocks ${this.config.numKvBlocks} exceeds the runner's ${runner.numKvBlocks}`);
    }
    this.pool = new BlockPool(this.config.numKvBlocks);
    this.scheduler = new Scheduler(this.config, new KvCacheManager(this.pool, this.config.enablePrefixCaching));
    this.dynamicNtk = DynamicNtkRope.of(spec);
    const numBuilders = this.config.asyncScheduling ? 2 : 1;
    this.stepBuilders = Array.from({ length: numBuilders }, () => new StepBatchBuilder(this.config.eosTokenIds, this.config.maxNumSeqs, this.config.maxNumBatchedTokens));
    this.structured = new StructuredOutputManager(() => tokenizer.grammarVocabulary?.(spec.vocabSize, this.config.eosTokenIds) ?? null);
  }

  /**
   * Queues a request; its outputs arrive as deltas, the last with `finished`. Throws
   * InvalidRequestError (bad input, too long) or QueueFullError synchronously.
   */
  add(request: AddRequest): AsyncIterable<RequestOutput> {
    const parent = this.createParent(request);
    this.parents.set(parent.requestId, parent);
    const spec = (parent.children[0] as Request).params.structuredOutput;
    if (spec === null) this.schedule(parent);
    else this.scheduleOnceCompiled(parent, spec);
    return parent.stream;
  }

  /**
   * Compiles a structured-output spec against the model's vocabulary (cached by spec), so a
   * caller can reject a bad one before add(); add() compiles it anyway. Rejects with
   * InvalidRequestError when the spec does not compile.
   */
  compileStructuredOutput(spec: StructuredOutputSpec): Promise<CompiledGrammar> {
    return this.structured.compile(spec);
  }

  /** Ends a request and frees its blocks; during a step, right after the step returns. */
  abort(requestId: string): boolean {
    const parent = this.parents.get(requestId);
    if (parent === undefined) return false;
    if (this.isStepping) this.pendingAborts.add(requestId);
    else this.finishAborted(parent);
    return true;
  }

  /** Runs requests to completion, feeding them in as the queue allows; outputs in input order. */
  async generate(requests: readonly AddRequest[]): Promise<RequestOutput[]> {
    const results: Promise<RequestOutput>[] = [];
    const active = new Set<Promise<unknown>>();
    for (const request of requests) {
      for (;;) {
        try {
          const collected = collect(this.add(request));
          results.push(collected);
          const settled: Promise<unknown> = collected.then(
            () => active.delete(settled),
            () => active.delete(settled),
          );
          active.add(settled);
          break;
        } catch (error) {
          if (!(error instanceof QueueFullError) || active.size === 0) throw error;
          await this.progress(Promise.race(active));
        }
      }
    }
    await this.progress(Promise.allSettled(results));
    return Promise.all(results);
  }

  /**
   * One engine step; with autoStep (the default) the engine calls it itself. With
   * asyncScheduling: postprocesses one step, having launched the next before it where it can.
   */
  async step(): Promise<void> {
    if (this.isStepping) throw new Error('step() is already running');
    if (this.config.asyncScheduling) return this.stepAhead();
    const output = this.scheduleNext();
    if (output === null) return;
    const built = this.build(output);
    this.isStepping = true;
    let result: StepOutput;
    try {
      result = await this.executeStep(built.batch, this.structured.stepMask(output.scheduled));
    } catch (error) {
      this.isStepping = false;
      this.failScheduled(output, error);
      this.applyPendingAborts();
      return;
    }
    this.isStepping = false;
    this.numStepsTotal++;
    this.scheduler.commit(output);
    this.postprocess(output, built, result);
    this.applyPendingAborts();
  }

  /** The next step's sequences; null when nothing runs (requests that can never run are failed). */
  private scheduleNext(): SchedulerOutput | null {
    const output = this.scheduler.schedule();
    if (output.scheduled.length > 0) return output;
    if (output.preempted.length === 0) this.failUnschedulable();
    return null;
  }

  private build(output: SchedulerOutput): BuiltStep {
    const builder = this.stepBuilders[this.numBuilt++ % this.stepBuilders.length] as StepBatchBuilder;
    return builder.build(output.scheduled, this.scheduler.kv);
  }

  /**
   * The step in flight (launched now if there is none), the one after it launched where that is
   * safe, then the first one's output postprocessed while the second runs.
   */
  private async stepAhead(): Promise<void> {
    let current = this.launched;
    if (current === null) {
      const output = this.scheduleNext();
      if (output === null) return;
      current = this.launch(output, this.structured.stepMask(output.scheduled));
      this.commitLaunched(current);
    }
    this.launched = null;
    const next = this.launchAhead(current);
    this.isStepping = true;
    let result: StepOutput;
    try {
      result = await current.result;
    } catch (error) {
      this.isStepping = false;
      this.failScheduled(current.output, error);
      // NOTE: the step behind it may need its samples: it fails too rather than guess them.
      if (next !== null) this.failScheduled(next.output, error);
      // NOTE: the failed step's blocks were published to the prefix cache when it was committed
      // at launch, but their KV was never written.
      this.pool.resetPrefixCache();
      this.applyPendingAborts();
      return;
    }
    this.isStepping = false;
    this.numStepsTotal++;
    this.postprocess(current.output, current.built, result);
    this.applyPendingAborts();
    if (next !== null) {
      this.commitLaunched(next);
      this.launched = next;
    }
  }

  /** Step N+1 while N (`current`) runs, or null where that is not safe (run-ahead.ts) or nothing fits. */
  private launchAhead(current: LaunchedStep): LaunchedStep | null {
    if (!canRunAhead(current.output.scheduled, this.config.speculative !== null, this.structured.hasConstrained)) return null;
    const output = this.scheduler.schedule(false);
    if (output.scheduled.length === 0) return null;
    return this.launch(output, null);
  }

  private launch(output: SchedulerOutput, fillMask: FillTokenBitmask | null): LaunchedStep {
    const built = this.build(output);
    const result = this.executeStep(built.batch, fillMask);
    // NOTE: awaited only in a later step(); until then a failure must not count as unhandled.
    result.catch(() => undefined);
    return { output, built, result };
  }

  /**
   * The launched step's tokens count as computed, and each sequence it samples waits for that
   * token. NOTE: only after the step before it was postprocessed, so the blocks it publishes to
   * the prefix cache hold known tokens, and a sequence that step ended is left alone.
   */
  private commitLaunched(step: LaunchedStep): void {
    this.scheduler.commit(step.output);
    step.output.scheduled.forEach(({ request, doSample }, row) => {
      if (doSample && !request.isFinished) request.expectSample(row);
    });
  }

  /** The step's grammar masks are filled while its forward pass runs where the runner allows. */
  private async executeStep(batch: StepBatch, fillMask: FillTokenBitmask | null): Promise<StepOutput> {
    if (fillMask === null) return this.runner.execute(batch);
    if (this.runner.executeWithLateBitmask) return this.runner.executeWithLateBitmask(batch, fillMask);
    batch.tokenBitmask = await fillMask();
    return this.runner.execute(batch);
  }

  get hasUnfinished(): boolean {
    return this.parents.size > 0;
  }

  stats(): EngineStats {
    return {
      numRunning: this.scheduler.numRunning,
      numWaiting: this.scheduler.numWaiting,
      numKvBlocksUsed: this.pool.numUsedBlocks,
      numKvBlocksTotal: this.pool.numBlocks,
      prefixCacheQueryTokens: this.pool.numQueryTokens,
      prefixCacheHitTokens: this.pool.numHitTokens,
      promptTokensTotal: this.promptTokensTotal,
      generationTokensTotal: this.generationTokensTotal,
      numPreemptions: this.scheduler.numPreemptions,
      numStepsTotal: this.numStepsTotal,
      numDraftTokensTotal: this.numDraftTokensTotal,
      numAcceptedDraftTokensTotal: this.numAcceptedDraftTokensTotal,
    };
  }

  /** Forgets cached prefixes, e.g. after an adapter slot was loaded with other weights. */
  resetPrefixCache(): void {
    this.pool.resetPrefixCache();
  }

  private createParent(init: AddRequest): ParentRequest {
    const { requestId, promptTokenIds } = init;
    const params = init.params ?? new SamplingParams();
    const { vocabSize } = this.runner.spec;
    if (typeof requestId !== 'string' || requestId.length === 0) {
      throw new InvalidRequestError('requestId must be a non-empty string', 'request_id');
    }
    if (this.parents.has(requestId)) throw new InvalidRequestError(`request id ${requestId} is already in use`, 'request_id');
    if (promptTokenIds.length === 0) throw new InvalidRequestError('the prompt must contain at least one token', 'prompt');
    for (const id of promptTokenIds) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new InvalidRequestError(`prompt token id ${id} is outside the vocabulary [0, ${vocabSize})`, 'prompt');
      }
    }
    for (const [value, param] of [
      [params.logprobs, 'logprobs'],
      [params.promptLogprobs, 'prompt_logprobs'],
    ] as const) {
      if (value !== null && value > this.config.maxLogprobs) {
        throw new InvalidRequestError(`${param} must be at most ${this.config.maxLogprobs}, got ${value}`, param);
      }
    }
    for (const id of params.logitBias?.keys() ?? []) {
      if (id >= vocabSize) throw new InvalidRequestError(`logit_bias token id ${id} is outside the vocabulary`, 'logit_bias');
    }
    for (const id of params.stopTokenIds) {
      if (id >= vocabSize) throw new InvalidRequestError(`stop_token_ids ${id} is outside the vocabulary`, 'stop_token_ids');
    }
    if (init.pooling !== undefined && params.n !== 1) throw new InvalidRequestError('an embedding request takes n = 1', 'n');
    const adapterSlot = init.adapterSlot ?? -1;
    if (!Number.isInteger(adapterSlot) || adapterSlot < -1 || adapterSlot >= this.runner.maxLoras) {
      throw new InvalidRequestError(`adapter slot ${adapterSlot} is not loaded (max_loras ${this.runner.maxLoras})`, 'model');
    }
    const maxTokens = params.maxTokens ?? this.config.maxModelLen - promptTokenIds.length;
    this.scheduler.checkFits(promptTokenIds.length, maxTokens);
    const rope = this.dynamicNtk?.forPrompt(promptTokenIds.length) ?? null;
    if (this.scheduler.numWaiting + params.n > this.config.maxWaiting) {
      throw new QueueFullError(this.scheduler.numWaiting, this.config.maxWaiting);
    }

    const adapterHash = adapterSlot < 0 ? 0 : hashString(init.adapterKey ?? `slot:${adapterSlot}`);
    const arrivalIndex = this.numArrivals++;
    const children: Request[] = [];
    const stopCheckers: StopChecker[] = [];
    for (let i = 0; i < params.n; i++) {
      const childParams = params.n === 1 ? params : params.child(i);
      children.push(
        new Request({
          requestId: params.n === 1 ? requestId : `${i}_${requestId}`,
          parentId: requestId,
          index: i,
          promptTokenIds,
          params: childParams,
          maxTokens,
          adapterSlot,
          adapterHash,
          rope,
          arrivalIndex,
          prefixSource: i === 0 ? null : (children[0] as Request),
          pooling: init.pooling ?? null,
        }),
      );
      const detokenizer = this.tokenizer.createDetokenizer(promptTokenIds, childParams.skipSpecialTokens);
      stopCheckers.push(new StopChecker(childParams, this.config.eosTokenIds, maxTokens, detokenizer));
    }
    return new ParentRequest(requestId, children, stopCheckers, () => this.abort(requestId));
  }

  private schedule(parent: ParentRequest): void {
    for (const child of parent.children) this.scheduler.add(child);
    this.kick();
  }

  /** A constrained request waits outside the scheduler until each sample has its matcher. */
  private scheduleOnceCompiled(parent: ParentRequest, spec: StructuredOutputSpec): void {
    const isCurrent = () => this.parents.get(parent.requestId) === parent && !parent.isFinished;
    const attached = this.structured.attach(parent.children, spec).then(
      () => {
        if (isCurrent()) this.schedule(parent);
        else this.structured.release(parent.children);
      },
      (error: unknown) => {
        if (isCurrent()) this.failParent(parent, error);
      },
    );
    this.pendingGrammars.add(attached);
    void attached.finally(() => this.pendingGrammars.delete(attached));
  }

  private postprocess(output: SchedulerOutput, built: BuiltStep, result: StepOutput): void {
    const touched = this.touchedParents;
    touched.length = 0;
    const stamp = ++this.numPostprocessed;
    for (const slice of built.promptLogprobSlices) {
      const request = (output.scheduled[slice.seqIndex] as (typeof output.scheduled)[number]).request;
      const promptLogprobs = request.promptLogprobs;
      if (promptLogprobs === null || promptLogprobs.length !== slice.firstTarget) continue;
      const k = built.batch.positionLogprobs?.topK ?? 0;
      for (let e = slice.entryStart; e < slice.entryStart + slice.numEntries; e++) {
        promptLogprobs.push({
          tokenId: built.batch.positionLogprobs?.targetTokenId[e] as number,
          logprob: result.positionTargetLogprobs[e] as number,
          top: topEntries(result.positionTopTokenIds, result.positionTopLogprobs, e * k, slice.topK),
        });
      }
      const parent = this.parents.get(request.parentId);
      if (parent !== undefined) touch(touched, parent, stamp);
    }

    const hiddenSize = this.runner.spec.hiddenSize;
    for (const slice of built.hiddenStateSlices) {
      const request = (output.scheduled[slice.seqIndex] as (typeof output.scheduled)[number]).request;
      request.pooled?.add(result.hiddenStates, slice.rowStart, slice.numRows, hiddenSize);
    }

    const scheduled = output.scheduled;
    const hasPendingAborts = this.pendingAborts.size > 0;
    let nextDraftSlice = 0;
    for (let s = 0; s < scheduled.length; s++) {
      const { request, doSample, draftTokenIds } = scheduled[s] as (typeof scheduled)[number];
      const draftEntryStart = draftTokenIds.length > 0 ? (built.draftSlices[nextDraftSlice++]?.entryStart as number) : -1;
      if (doSample) request.clearPendingSample();
      if (!doSample || request.isFinished || (hasPendingAborts && this.pendingAborts.has(request.parentId))) continue;
      const parent = this.parents.get(request.parentId);
      if (parent === undefined) continue;
      if (draftEntryStart >= 0 && !this.appendVerifiedDrafts(request, parent, draftTokenIds, draftEntryStart, built, result, stamp)) continue;
      const numLogprobs = request.params.logprobs;
      const tokenId = result.sampledTokenIds[s] as number;
      const logprob: TokenLogprob | null =
        numLogprobs === null
          ? null
          : {
              tokenId,
              logprob: result.sampledLogprobs[s] as number,
              top: topEntries(result.topTokenIds, result.topLogprobs, s * result.topK, numLogprobs),
            };
      this.appendToken(request, parent, tokenId, logprob, stamp);
    }

    for (let i = 0; i < touched.length; i++) this.emit(touched[i] as ParentRequest);
    touched.length = 0;
  }

  /** One generated token through the stop checker into the parent's delta; true while the request goes on. */
  private appendToken(request: Request, parent: ParentRequest, tokenId: number, logprob: TokenLogprob | null, stamp: number): boolean {
    request.appendOutputToken(tokenId);
    this.generationTokensTotal++;
    if (request.index === 0 && request.numOutputTokens === 1) this.promptTokensTotal += request.numPromptTokens;
    const grammar = this.structured.accept(request, tokenId);
    const stopChecker = parent.stopCheckers[request.index] as StopChecker;
    const check = stopChecker.append(tokenId, request.numOutputTokens);
    let text = check.text;
    if (check.status !== null) {
      request.stopReason = check.stopReason;
      this.scheduler.finish(request, check.status);
    } else if (grammar === 'complete' || grammar === 'rejected') {
      // NOTE: 'rejected' only when the mask left nothing to sample (e.g. min_tokens banning the
      // only token the grammar allows): the output cannot go on validly, so it ends as an abort.
      this.scheduler.finish(request, grammar === 'complete' ? RequestStatus.FINISHED_STOPPED : RequestStatus.FINISHED_ABORTED);
      text += stopChecker.flush();
    }
    parent.addDelta(request, tokenId, logprob, text);
    touch(this.touchedParents, parent, stamp);
    return !request.isFinished;
  }

  /**
   * Emits the model's own token at each draft row (the argmax, i.e. what greedy decoding would
   * have chosen there) while it agrees with the draft; the first disagreement is emitted too
   * and ends the run. True when every draft was accepted and the request goes on, so the
   * step's ordinary sample (after the last draft) follows.
   */
  private appendVerifiedDrafts(
    request: Request,
    parent: ParentRequest,
    draftTokenIds: readonly number[],
    entryStart: number,
    built: BuiltStep,
    result: StepOutput,
    stamp: number,
  ): boolean {
    const k = built.batch.positionLogprobs?.topK ?? 0;
    const numLogprobs = request.params.logprobs;
    let numAccepted = 0;
    let isGoingOn = true;
    for (let i = 0; i < draftTokenIds.length && isGoingOn; i++) {
      const entry = (entryStart + i) * k;
      const tokenId = result.positionTopTokenIds[entry] as number;
      const logprob: TokenLogprob | null =
        numLogprobs === null
          ? null
          : { tokenId, logprob: result.positionTopLogprobs[entry] as number, top: topEntries(result.positionTopTokenIds, result.positionTopLogprobs, entry, numLogprobs) };
      isGoingOn = this.appendToken(request, parent, tokenId, logprob, stamp);
      if (tokenId !== draftTokenIds[i]) break;
      numAccepted++;
    }
    this.numDraftTokensTotal += draftTokenIds.length;
    this.numAcceptedDraftTokensTotal += numAccepted;
    this.scheduler.acceptDrafts(request, numAccepted);
    return isGoingOn && numAccepted === draftTokenIds.length;
  }

  private emit(parent: ParentRequest): void {
    const out = parent.takeOutput();
    if (out !== null) parent.stream.push(out);
    if (parent.isFinished) {
      parent.stream.end();
      this.forget(parent);
    }
  }

  private finishAborted(parent: ParentRequest): void {
    parent.children.forEach((child, i) => {
      if (child.isFinished) return;
      this.scheduler.finish(child, RequestStatus.FINISHED_ABORTED);
      parent.addDelta(child, -1, null, (parent.stopCheckers[i] as StopChecker).flush());
    });
    this.emit(parent);
  }

  private applyPendingAborts(): void {
    for (const requestId of this.pendingAborts) {
      const parent = this.parents.get(requestId);
      if (parent !== undefined) this.finishAborted(parent);
    }
    this.pendingAborts.clear();
  }

  /** The runner failed: the step's requests end with the error; everything else goes on. */
  private failScheduled(output: SchedulerOutput, error: unknown): void {
    const failed = new Set<ParentRequest>();
    for (const { request } of output.scheduled) {
      const parent = this.parents.get(request.parentId);
      if (parent !== undefined) failed.add(parent);
    }
    for (const parent of failed) this.failParent(parent, error);
  }

  /** NOTE: cannot happen while add() rejects what can never fit; a safety net against spinning. */
  private failUnschedulable(): void {
    // NOTE: nothing waiting (e.g. only grammars still compiling) is nothing to fail.
    if (this.scheduler.numRunning > 0 || this.scheduler.numWaiting === 0) return;
    const error = new Error('engine could not schedule any waiting request');
    for (const parent of [...this.parents.values()]) this.failParent(parent, error);
  }

  private failParent(parent: ParentRequest, error: unknown): void {
    for (const child of parent.children) this.scheduler.finish(child, RequestStatus.FINISHED_ABORTED);
    this.forget(parent);
    parent.stream.fail(error);
  }

  private forget(parent: ParentRequest): void {
    this.parents.delete(parent.requestId);
    this.structured.release(parent.children);
  }

  /** Requests to run, or a launched step still to postprocess. */
  private get hasStepWork(): boolean {
    return this.scheduler.hasUnfinished || this.launched !== null;
  }

  private kick(): void {
    if (!this.config.autoStep || this.isLoopRunning) return;
    this.isLoopRunning = true;
    void this.runLoop();
  }

  private async runLoop(): Promise<void> {
    try {
      while (this.hasStepWork) {
        await this.step();
        // NOTE: a runner that resolves at once would otherwise starve I/O callbacks.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      for (const parent of [...this.parents.values()]) this.failParent(parent, error);
    } finally {
      this.isLoopRunning = false;
    }
  }

  /** Waits for `promise`, stepping the engine meanwhile when the caller drives steps. */
  private async progress(promise: Promise<unknown>): Promise<void> {
    if (this.config.autoStep) {
      await promise;
      return;
    }
    let isDone = false;
    void promise.then(
      () => (isDone = true),
      () => (isDone = true),
    );
    await Promise.resolve();
    while (!isDone && (this.hasStepWork || this.pendingGrammars.size > 0)) {
      if (this.hasStepWork) await this.step();
      else await Promise.race(this.pendingGrammars);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await promise;
  }
}

async function collect(stream: AsyncIterable<RequestOutput>): Promise<RequestOutput> {
  const deltas: RequestOutput[] = [];
  for await (const delta of stream) deltas.push(delta);
  return accumulateOutputs(deltas);
}

function touch(touched: ParentRequest[], parent: ParentRequest, stamp: number): void {
  if (parent.touchedStamp === stamp) return;
  parent.touchedStamp = stamp;
  touched.push(parent);
}

function topEntries(ids: Int32Array, logprobs: Float32Array, offset: number, k: number): [number, number][] {
  const top: [number, number][] = [];
  for (let j = 0; j < k; j++) {
    const id = ids[offset + j];
    if (id === undefined || id < 0) break;
    top.push([id, logprobs[offset + j] as number]);
  }
  return top;
}
