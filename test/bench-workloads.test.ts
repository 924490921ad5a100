/** The requests `swiftlet bench --scenario serve` sends: ShareGPT-like lengths and shared prefixes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomPrompts, sharegptLikeLengths, SHAREGPT_MEAN_INPUT_LEN, SHAREGPT_MEAN_OUTPUT_LEN } from '../src/cli/bench/workloads.js';

test('ShareGPT-like lengths have its published means, a long tail, and repeat for a seed', () => {
  const lengths = sharegptLikeLengths(4000, 1);
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const inputs = lengths.map((pair) => pair.inputLen);
  const outputs = lengths.map((pair) => pair.outputLen);
  assert.ok(Math.abs(mean(inputs) / SHAREGPT_MEAN_INPUT_LEN - 1) < 0.08, `mean input ${mean(inputs)}`);
  assert.ok(Math.abs(mean(outputs) / SHAREGPT_MEAN_OUTPUT_LEN - 1) < 0.08, `mean output ${mean(outputs)}`);
  assert.ok(Math.max(...inputs) > 5 * SHAREGPT_MEAN_INPUT_LEN, 'some prompts are far longer than the mean');
  assert.ok([...inputs, ...outputs].every((n) => Number.isInteger(n) && n >= 4 && n <= 2048));
  assert.deepEqual(sharegptLikeLengths(50, 1), lengths.slice(0, 50));
  assert.notDeepEqual(sharegptLikeLengths(50, 2), lengths.slice(0, 50));
});

test('prompts share exactly the requested prefix and differ after it', () => {
  const [a, b] = randomPrompts([10, 12], 3, 1000, 64) as [number[], number[]];
  assert.deepEqual([a.length, b.length], [74, 76]);
  assert.deepEqual(a.slice(0, 64), b.slice(0, 64));
  assert.notDeepEqual(a.slice(64, 74), b.slice(64, 74));
  const [plainA] = randomPrompts([10], 3, 1000) as [number[]];
  assert.deepEqual(plainA, a.slice(64), 'the prefix does not change the rest');
});
