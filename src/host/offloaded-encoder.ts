/**
 * Prompt text to token ids for the server without holding its one event loop: a short text is
 * encoded at once, a long one in a worker thread that loads the same tokenizer (started on the
 * first long text, kept for the next). Encoding costs time in proportion to the text (the
 * largest prompt the context bound lets through took seconds on the main thread, stalling
 * /health and every stream).
 */
import { Worker } from 'node:worker_threads';
import type { Tokenizer } from '../model/tokenizer.js';
import type { EncodeAnswer, EncodeJob } from '../model/tokenizer-worker.js';
import type { PromptEncoder } from '../protocol/prompt-size.js';

/** Texts shorter than this are encoded on the caller's thread: a few milliseconds at most. */
export const MIN_OFFLOADED_CHARS = 16 * 1024;

export class OffloadedEncoder {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (ids: number[]) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly tokenizer: Tokenizer,
    /** The directory the worker loads its own tokenizer from (the one `tokenizer` came from). */
    private readonly modelDir: string,
    private readonly minOffloadedChars = MIN_OFFLOADED_CHARS,
  ) {}

  readonly encode: PromptEncoder = (text, addSpecialTokens) => {
    if (text.length < this.minOffloadedChars) return Promise.resolve(this.tokenizer.encode(text, { addSpecialTokens }));
    const worker = this.worker ?? this.startWorker();
    const id = this.nextId++;
    const answer = new Promise<number[]>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.ref();
    worker.postMessage({ id, text, addSpecialTokens } satisfies EncodeJob);
    return answer;
  };

  dispose(): void {
    void this.worker?.terminate();
    this.failPending(new Error('the server is shutting down'));
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL('../model/tokenizer-worker.js', import.meta.url), { workerData: { modelDir: this.modelDir } });
    worker.on('message', (answer: EncodeAnswer) => {
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      // NOTE: an idle worker must not keep the process alive.
      if (this.pending.size === 0) worker.unref();
      if ('error' in answer) waiter?.reject(new Error(answer.error));
      else waiter?.resolve(Array.from(answer.ids));
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      this.failPending(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the tokenizer worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private failPending(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
