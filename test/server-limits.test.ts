/**
 * Issue 18: a connection cap, a 408 for a client too slow with its headers, and one access
 * line per request (method, path, status, tokens, ms).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { postJson, startLiveServer, type LiveServer } from './helpers/live-server.js';

const logged: string[] = [];
let live: LiveServer;
let port: number;

before(async () => {
  live = await startLiveServer({ kvCacheBytes: 64 * 1024 * 1024 }, { maxConnections: 2, headersTimeoutMs: 300, requestTimeoutMs: 600, log: (line) => logged.push(line) });
  port = live.server.port;
});

after(async () => {
  await live?.close();
});

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** What the server sends before it closes the socket. */
function readUntilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (data: Buffer) => (text += data.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
}

test('headers not sent in time get 408', async () => {
  const socket = await openSocket();
  socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\n');
  assert.match(await readUntilClosed(socket), /^HTTP\/1\.1 408 Request Timeout/);
});

test('connections beyond the cap are closed at once; the others are served', async () => {
  const held = [await openSocket(), await openSocket()];
  await new Promise((resolve) => setTimeout(resolve, 50));
  const extra = await openSocket();
  extra.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(await readUntilClosed(extra), '');
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await fetch(`${live.url}/health`)).status, 200);
});

test('every request gets an access line with method, path, status, tokens and ms', async () => {
  const response = await postJson(`${live.url}/v1/completions`, { prompt: 'hello', max_tokens: 3, temperature: 0 });
  assert.equal(response.status, 200);
  await postJson(`${live.url}/v1/completions`, { prompt: 'hello', max_tokens: -1 });
  assert.ok(logged.some((line) => /^POST \/v1\/completions 200 tokens=\d+ \d+ ms$/.test(line)), logged.join('\n'));
  assert.ok(logged.some((line) => /^POST \/v1\/completions 400 tokens=- \d+ ms$/.test(line)), logged.join('\n'));
  assert.ok(!logged.some((line) => /\n\s+at /.test(line)), 'no stack traces');
});
