/**
 * A data-parallel replica: a child process that loads one model (its own runner, engine and
 * adapter slots, through ModelHost as every command loads one) and serves the front process's
 * requests over IPC. It holds no HTTP and no state beyond its ServingEngine; when the front
 * process goes, so does it.
 */
import { SamplingParams } from '../../engine/sampling-params.js';
import type { RequestOutput } from '../../engine/output.js';
import { NO_TEXT_TOKENIZER } from '../../engine/engine-tokenizer.js';
import { randomEngineWeights } from '../engine-setup.js';
import { ModelHost } from '../model-host.js';
import { ServingEngine } from '../serving-engine.js';
import { toWireError, type FromReplica, type ToReplica } from './replica-messages.js';

function send(message: FromReplica): void {
  process.send?.(message);
}

/** Outputs of one event-loop turn go out as one message (an engine step makes one per request). */
class OutputBatcher {
  private pending: RequestOutput[] = [];
  private isScheduled = false;

  constructor(private readonly serving: ServingEngine) {}

  push(output: RequestOutput): void {
    this.pending.push(output);
    if (this.isScheduled) return;
    this.isScheduled = true;
    setImmediate(() => this.flush());
  }

  /** `sent` runs once the message is handed to the channel (at once when there is nothing to send). */
  flush(sent?: () => void): void {
    this.isScheduled = false;
    if (this.pending.length === 0) {
      sent?.();
      return;
    }
    const outputs = this.pending;
    this.pending = [];
    process.send?.({ kind: 'outputs', outputs, stats: this.serving.stats() } satisfies FromReplica, undefined, {}, () => sent?.());
  }
}

class ReplicaServer {
  private readonly submissions = new Map<string, () => void>();
  private readonly batcher: OutputBatcher;

  constructor(private readonly serving: ServingEngine) {
    this.batcher = new OutputBatcher(serving);
  }

  handle(message: ToReplica): void {
    switch (message.kind) {
      case 'submit':
        this.submit(message);
        break;
      case 'abort':
        this.submissions.get(message.requestId)?.();
        break;
      case 'loadAdapter':
        this.call(message.callId, () => this.serving.adapters.load(message.name, message.path));
        break;
      case 'unloadAdapter':
        this.call(message.callId, () => this.serving.unloadAdapter(message.name));
        break;
      case 'compileGrammar':
        this.call(message.callId, () => this.serving.compileStructuredOutput(message.spec));
        break;
      case 'stop':
        // NOTE: the last outputs (the aborts close makes) must reach the channel before the exit.
        void this.serving.close().finally(() => this.batcher.flush(() => process.exit(0)));
        break;
      case 'start':
        break;
    }
  }

  private submit(message: Extract<ToReplica, { kind: 'submit' }>): void {
    const { requestId } = message;
    try {
      const adapter = message.adapterName === null ? null : this.serving.adapters.get(message.adapterName);
      if (adapter === undefined) throw new Error(`adapter '${message.adapterName}' is not loaded on this replica`);
      const submission = this.serving.submit({
        promptTokenIds: message.promptTokenIds,
        params: new SamplingParams(message.params),
        adapter,
        ...(message.pooling !== null ? { pooling: message.pooling } : {}),
      });
      this.submissions.set(requestId, () => submission.abort());
      void this.relay(requestId, submission.outputs);
    } catch (error) {
      send({ kind: 'failed', requestId, error: toWireError(error) });
    }
  }

  /** Forwards a request's outputs under the front process's id. */
  private async relay(requestId: string, outputs: AsyncIterable<RequestOutput>): Promise<void> {
    try {
      for await (const output of outputs) this.batcher.push({ ...output, requestId });
    } catch (error) {
      this.batcher.flush();
      send({ kind: 'failed', requestId, error: toWireError(error) });
    } finally {
      this.submissions.delete(requestId);
    }
  }

  /** Answers when `action` has settled (it may return a promise). */
  private call(callId: number, action: () => unknown): void {
    Promise.resolve()
      .then(action)
      .then(
        () => send({ kind: 'called', callId, error: null }),
        (error: unknown) => send({ kind: 'called', callId, error: toWireError(error) }),
      );
  }
}

function startServing(start: Extract<ToReplica, { kind: 'start' }>): Promise<ServingEngine> {
  const { options, randomWeights } = start;
  if (randomWeights !== null) return ServingEngine.start(randomEngineWeights(randomWeights), NO_TEXT_TOKENIZER, options);
  const log = (line: string) => console.error(`swiftlet replica ${process.env['SWIFTLET_REPLICA'] ?? '?'}: ${line}`);
  return ModelHost.load(options, log).then((host) => host.localServing());
}

process.once('message', (first: ToReplica) => {
  if (first.kind !== 'start') throw new Error(`replica: expected 'start', got '${first.kind}'`);
  startServing(first).then(
    (serving) => {
      const server = new ReplicaServer(serving);
      process.on('message', (message: ToReplica) => server.handle(message));
      const { runner, engine } = serving;
      send({
        kind: 'ready',
        ready: { device: runner.device, maxModelLen: engine.config.maxModelLen, numKvBlocks: runner.numKvBlocks, maxLoras: runner.maxLoras },
        stats: serving.stats(),
      });
    },
    (error: unknown) => {
      send({ kind: 'startFailed', error: toWireError(error) });
      process.exitCode = 1;
      process.disconnect?.();
    },
  );
});
// NOTE: the front process gone (crash, kill -9) closes the channel: nothing would read our outputs.
process.on('disconnect', () => process.exit());
// NOTE: Ctrl-C signals the whole process group; the front drains its requests and then stops
// the replicas itself, so they must outlive the signal.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
