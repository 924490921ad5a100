/** The chat prompt's multi-line input and the dataset progress bar, without a model. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MultilineInput } from '../src/cli/infer/multiline.js';
import { formatDuration, ProgressBar } from '../src/cli/infer/progress.js';

function feedAll(lines: string[]): string[] {
  const input = new MultilineInput();
  const messages: string[] = [];
  for (const line of lines) {
    const result = input.feed(line);
    if (result.kind === 'message') messages.push(result.text);
  }
  assert.equal(input.isPending, false);
  return messages;
}

test('one line is one message; a trailing backslash continues it on the next line', () => {
  assert.deepEqual(feedAll(['hello']), ['hello']);
  assert.deepEqual(feedAll(['first \\', 'second\\', 'third', 'next']), ['first \nsecond\nthird', 'next']);
  assert.deepEqual(feedAll(['']), ['']);
});

test('""" blocks: alone on their lines, sharing a line with text, or on one line', () => {
  assert.deepEqual(feedAll(['"""', 'a', '', '  b \\', '"""']), ['a\n\n  b \\']);
  assert.deepEqual(feedAll(['"""def f():', '    return 1"""']), ['def f():\n    return 1']);
  assert.deepEqual(feedAll(['"""one line"""', 'after']), ['one line', 'after']);
  const input = new MultilineInput();
  assert.deepEqual(input.feed('"""'), { kind: 'more' });
  assert.equal(input.isPending, true);
  input.reset();
  assert.deepEqual(input.feed('x'), { kind: 'message', text: 'x' });
});

test('the progress bar: counts, rate, ETA; throttled off a terminal but always drawn at the end', () => {
  const written: string[] = [];
  const bar = new ProgressBar(4, { write: (text) => (written.push(text), true) }, 'infer', 60_000);
  bar.addTokens(10);
  bar.completeOne();
  assert.equal(written.length, 1);
  assert.match(written[0] ?? '', /^infer \[\.{24}\] 0\/4 {3}0% \| [\d.]+ tok\/s \| elapsed 00:00 \| ETA --:--\n$/);
  bar.completeOne();
  bar.completeOne();
  bar.completeOne();
  bar.finish();
  assert.equal(written.length, 2);
  assert.match(written[1] ?? '', /^infer \[#{24}\] 4\/4 100% \| [\d.]+ tok\/s \| elapsed 00:00 \| ETA 00:00\n$/);
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(Infinity), '--:--');
});

test('on a terminal the progress bar redraws one line in place and ends it at the finish', () => {
  const written: string[] = [];
  const bar = new ProgressBar(2, { write: (text) => (written.push(text), true), isTTY: true }, 'run-batch');
  bar.completeOne();
  assert.equal(written.length, 1);
  assert.match(written[0] ?? '', /^\rrun-batch \[#{12}\.{12}\] 1\/2 {2}50% \| .* ETA [\d:]+\x1b\[K$/);
  bar.completeOne();
  bar.finish();
  assert.match(written[written.length - 2] ?? '', /^\rrun-batch \[#{24}\] 2\/2 100% .*\x1b\[K$/);
  assert.equal(written[written.length - 1], '\n');
});
