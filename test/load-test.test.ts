/**
 * The load test (bench/load-test.ts) at a smaller size: concurrent streaming requests over the
 * base model and the adapter, a quarter disconnecting early; every completed response equals
 * its reference computed alone, the engine ends empty, and the server still answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLoadTest } from '../bench/load-test.js';
import { startLiveServer } from './helpers/live-server.js';

test('load: 80 concurrent streams, a quarter disconnecting, all completed ones correct, nothing left behind', async () => {
  const live = await startLiveServer();
  try {
    const report = await runLoadTest({
      url: live.url,
      numRequests: 80,
      disconnectFraction: 0.25,
      maxTokens: 16,
      prompts: ['The quick brown fox', 'def fib(n):\n    ', 'who are you?', 'List three prime numbers:'],
    });
    assert.deepEqual(report.failures, []);
    assert.equal(report.numDisconnected, 20);
    assert.equal(report.numCompleted, 60);
    assert.equal(report.numCorrect, 60);
    assert.deepEqual(report.final, { running: 0, waiting: 0, kvBlocksUsed: 0 });
    assert.equal(report.isServerAnswering, true);
    assert.equal(report.isPassed, true);
    assert.equal(live.server.numActiveRequests, 0);
    assert.equal(live.server.service.numInFlight, 0);
  } finally {
    await live.close();
  }
});
