/** Start-up of a tensor-parallel group's control connections: the leader listens, the other ranks connect and say who they are. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FramedChannel } from './framed-channel.js';
import type { GroupOptions } from './group-options.js';
import type { LeaderMessage, RankMessage } from './group-messages.js';

export type LeaderChannel = FramedChannel<LeaderMessage, RankMessage>;
export type RankChannel = FramedChannel<RankMessage, LeaderMessage>;

const RETRY_MS = 200;

/** The first message a channel gets, or an error when it closes or `timeoutMs` passes first. */
export function nextMessage<In>(channel: FramedChannel<unknown, In>, timeoutMs: number, what: string): Promise<In> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs / 1000} s`)), timeoutMs);
    let settled = false;
    channel.onMessage((message) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(message);
    });
    channel.onClose((error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${what}: the connection closed${error ? ` (${error.message})` : ''}`));
    });
  });
}

/** The leader's control port, listening on every interface. */
export function listenForRanks(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => reject(new Error(`tensor-parallel leader: cannot listen on --master-port ${port}: ${error.code ?? error.message}`)));
    server.listen(port, () => resolve(server));
  });
}

/** One channel per rank 1..size-1 (rank r at index r - 1), once each has said hello; throws after the group's timeout. */
export function acceptRanks(server: Server, group: GroupOptions): Promise<LeaderChannel[]> {
  const channels: LeaderChannel[] = [];
  let joined = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off('connection', onConnection);
      reject(new Error(`tensor-parallel leader: ${group.size - 1 - joined} of ${group.size - 1} rank(s) did not connect to port ${group.masterPort} within ${group.timeoutMs / 1000} s`));
    }, group.timeoutMs);
    const onConnection = (socket: Socket) => {
      const channel: LeaderChannel = new FramedChannel(socket);
      nextMessage(channel, group.timeoutMs, 'a connecting rank').then((hello) => {
        // NOTE: a stray or misconfigured process is turned away; the group keeps waiting for the right one.
        const bad = hello.kind !== 'hello' ? 'said no hello'
          : hello.size !== group.size ? `runs --nnodes ${hello.size}, the leader ${group.size}`
          : hello.rank < 1 || hello.rank >= group.size ? `has --node-rank ${hello.rank}`
          : channels[hello.rank - 1] !== undefined ? `has --node-rank ${hello.rank}, which another process already took`
          : null;
        if (bad !== null || hello.kind !== 'hello') {
          channel.send({ kind: 'shutdown' });
          channel.close();
          console.error(`swiftlet: tensor-parallel leader: turned away a process that ${bad}`);
          return;
        }
        channels[hello.rank - 1] = channel;
        if (++joined === group.size - 1) {
          clearTimeout(timer);
          server.off('connection', onConnection);
          resolve(channels);
        }
      }, () => channel.close());
    };
    server.on('connection', onConnection);
  });
}

/** A rank's control channel to the leader, retried until the group's timeout (the leader may start later). */
export async function connectToLeader(group: GroupOptions): Promise<RankChannel> {
  const deadline = Date.now() + group.timeoutMs;
  for (;;) {
    const socket = await new Promise<Socket | null>((resolve) => {
      const attempt = connect({ host: group.masterAddr, port: group.masterPort });
      attempt.once('connect', () => resolve(attempt));
      attempt.once('error', () => resolve(null));
    });
    if (socket) {
      const channel: RankChannel = new FramedChannel(socket);
      channel.send({ kind: 'hello', rank: group.rank, size: group.size });
      return channel;
    }
    if (Date.now() + RETRY_MS > deadline) {
      throw new Error(`tensor-parallel rank ${group.rank}: cannot reach the leader at ${group.masterAddr}:${group.masterPort} within ${group.timeoutMs / 1000} s`);
    }
    await sleep(RETRY_MS);
  }
}
