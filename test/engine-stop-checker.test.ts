import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StreamDetokenizer } from '../src/engine/engine-tokenizer.js';
import { RequestStatus } from '../src/engine/request.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import { StopChecker } from '../src/engine/stop-checker.js';

const pieces: Record<number, string> = { 1: 'Hel', 2: 'lo', 3: ' wor', 4: 'ld', 5: '!', 6: '😀', 9: '<eos>' };
const detokenizer = (): StreamDetokenizer => ({ push: (ids) => ids.map((id) => pieces[id] ?? '').join(''), flush: () => '' });

function run(init: SamplingParamsInit, ids: number[], maxTokens = 100) {
  const checker = new StopChecker(new SamplingParams(init), [9], maxTokens, detokenizer());
  const deltas: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const check = checker.append(ids[i] as number, i + 1);
    deltas.push(check.text);
    if (check.status !== null) return { deltas, status: check.status, stopReason: check.stopReason, numTokens: i + 1 };
  }
  return { deltas, status: null, stopReason: null, numTokens: ids.length };
}

test('holds back text that may still become a stop string', () => {
  const r = run({ stop: ['lo w', 'xyz'] }, [1, 2, 3, 4]);
  // 'Hel' -> hold 3; 'Hello' -> emit 'He'; 'Hello wor' contains 'lo w' at 3.
  assert.deepEqual(r.deltas, ['', 'He', 'l']);
  assert.equal(r.status, RequestStatus.FINISHED_STOPPED);
  assert.equal(r.stopReason, 'lo w');
});

test('include_stop_str_in_output keeps the stop string, not what follows it', () => {
  const r = run({ stop: ['lo w'], includeStopStrInOutput: true }, [1, 2, 3]);
  assert.equal(r.deltas.join(''), 'Hello w');
});

test('earliest match wins', () => {
  assert.equal(run({ stop: ['ld', 'o'] }, [1, 2, 3, 4]).stopReason, 'o');
});

test('EOS and stop token ids, with and without min_tokens', () => {
  const eos = run({}, [1, 2, 9, 3]);
  assert.equal(eos.deltas.join(''), 'Hello');
  assert.equal(eos.stopReason, null);
  assert.equal(eos.numTokens, 3);
  assert.equal(run({ minTokens: 4 }, [1, 9, 9, 9, 9]).numTokens, 4);
  assert.equal(run({ ignoreEos: true }, [9, 9], 2).status, RequestStatus.FINISHED_LENGTH);
  const byId = run({ stopTokenIds: [5] }, [1, 2, 5]);
  assert.equal(byId.stopReason, 5);
  assert.equal(byId.deltas.join(''), 'Hello');
  assert.equal(run({ stopTokenIds: [5], includeStopStrInOutput: true }, [1, 2, 5]).deltas.join(''), 'Hello!');
  assert.equal(run({ stop: ['Hel'], minTokens: 2 }, [1, 2, 3]).status, null, 'a stop string completed before min_tokens is not a stop');
});

test('length flushes held-back text; surrogate pairs are not split', () => {
  const r = run({ stop: ['zz'] }, [1, 6, 2], 3);
  assert.equal(r.status, RequestStatus.FINISHED_LENGTH);
  assert.equal(r.deltas.join(''), 'Hel😀lo');
  const held = run({ stop: ['abc'] }, [1, 6]);
  for (const d of held.deltas) assert.ok(!/[\ud800-\udbff]$/.test(d), JSON.stringify(d));
});
