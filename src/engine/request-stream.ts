/**
 * One request's outputs as an async iterable with a single reader. The engine pushes; the
 * reader pulls at its own pace. Leaving the loop early (break) aborts the request.
 */
import type { RequestOutput } from './output.js';

export class RequestStream implements AsyncIterable<RequestOutput> {
  private readonly queue: RequestOutput[] = [];
  private waiter: { resolve: (r: IteratorResult<RequestOutput>) => void; reject: (e: unknown) => void } | null = null;
  private isEnded = false;
  private error: unknown = null;
  private isIterated = false;

  constructor(private readonly onCancel: () => void) {}

  push(output: RequestOutput): void {
    if (this.isEnded) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve({ value: output, done: false });
    } else {
      this.queue.push(output);
    }
  }

  end(): void {
    this.settle(null);
  }

  fail(error: unknown): void {
    this.settle(error ?? new Error('request failed'));
  }

  [Symbol.asyncIterator](): AsyncIterator<RequestOutput> {
    if (this.isIterated) throw new Error('a request stream can be read only once');
    this.isIterated = true;
    return {
      next: () => {
        const value = this.queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.error !== null) return Promise.reject(this.error);
        if (this.isEnded) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        if (!this.isEnded) this.onCancel();
        this.queue.length = 0;
        this.isEnded = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private settle(error: unknown): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.error = error;
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter === null) return;
    if (error !== null) waiter.reject(error);
    else waiter.resolve({ value: undefined, done: true });
  }
}
