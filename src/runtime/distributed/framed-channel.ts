/**
 * Messages between the leader and the other ranks of a tensor-parallel group: each is a
 * length-prefixed V8 serialisation (typed arrays travel as raw bytes, Maps as Maps), over one
 * TCP connection per rank. Order is kept, so a step and the adapter change after it arrive in
 * the order the leader made them.
 */
import type { Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';

const LENGTH_BYTES = 4;

export class FramedChannel<Out, In> {
  private pending: Buffer = Buffer.alloc(0);
  private readonly receivers: ((message: In) => void)[] = [];
  private readonly closers: ((error: Error | undefined) => void)[] = [];
  private closed = false;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.take(chunk));
    socket.on('error', (error) => this.end(error));
    socket.on('close', () => this.end(undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onMessage(receive: (message: In) => void): void {
    this.receivers.push(receive);
  }

  /** Called once when the connection ends, with the socket's error if it had one. */
  onClose(close: (error: Error | undefined) => void): void {
    if (this.closed) close(undefined);
    else this.closers.push(close);
  }

  /** Resolves once the message is handed to the OS (or the channel is gone: its close handlers say so). */
  send(message: Out): Promise<void> {
    if (this.closed) return Promise.resolve();
    const body = serialize(message);
    const header = Buffer.alloc(LENGTH_BYTES);
    header.writeUInt32BE(body.length);
    return new Promise((resolve) => this.socket.write(Buffer.concat([header, body]), () => resolve()));
  }

  close(): void {
    this.socket.end();
  }

  private take(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= LENGTH_BYTES) {
      const length = this.pending.readUInt32BE(0);
      if (this.pending.length < LENGTH_BYTES + length) return;
      const message = deserialize(this.pending.subarray(LENGTH_BYTES, LENGTH_BYTES + length)) as In;
      this.pending = this.pending.subarray(LENGTH_BYTES + length);
      for (const receive of this.receivers) receive(message);
    }
  }

  private end(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    for (const close of this.closers) close(error);
  }
}
