/** The argv parser every command uses: vLLM's spellings and SWIFT's. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags, UsageError, type FlagSpecs } from '../src/cli/args.js';

const SPECS: FlagSpecs = {
  model: { kind: 'string', help: '' },
  'max-model-len': { kind: 'number', help: '' },
  'merge-lora': { kind: 'boolean', help: '' },
  'enable-prefix-caching': { kind: 'boolean', default: true, help: '' },
  'lora-modules': { kind: 'list', help: '' },
  'tensor-parallel-size': { kind: 'number', default: 1, aliases: ['-tp'], help: '' },
};

test('vLLM spellings: --flag value, --flag=value, --no-flag, lists, aliases', () => {
  const { flags, positionals } = parseFlags(
    ['serve', '--model', 'm', '--max-model-len=4096', '--no-enable-prefix-caching', '--lora-modules', 'a=x', 'b=y', '-tp', '2'],
    SPECS,
  );
  assert.deepEqual(positionals, ['serve']);
  assert.equal(flags['model'], 'm');
  assert.equal(flags['max-model-len'], 4096);
  assert.equal(flags['enable-prefix-caching'], false);
  assert.deepEqual(flags['lora-modules'], ['a=x', 'b=y']);
  assert.equal(flags['tensor-parallel-size'], 2);
});

test('SWIFT spellings: underscores, and a boolean given as the next word', () => {
  assert.equal(parseFlags(['--merge_lora', 'true', '--max_model_len', '512'], SPECS).flags['merge-lora'], true);
  assert.equal(parseFlags(['--merge_lora', 'false'], SPECS).flags['merge-lora'], false);
  assert.equal(parseFlags(['--enable_prefix_caching', 'False'], SPECS).flags['enable-prefix-caching'], false);
  assert.equal(parseFlags(['--merge-lora=no'], SPECS).flags['merge-lora'], false);
  // Any other word after a boolean is not its value.
  const { flags, positionals } = parseFlags(['--merge-lora', 'out.jsonl'], SPECS);
  assert.equal(flags['merge-lora'], true);
  assert.deepEqual(positionals, ['out.jsonl']);
});

test('mistakes are usage errors naming the flag', () => {
  assert.throws(() => parseFlags(['--nope'], SPECS), (e: unknown) => e instanceof UsageError && /unknown flag --nope/.test(e.message));
  assert.throws(() => parseFlags(['--max-model-len', 'lots'], SPECS), /--max-model-len expects a number, got "lots"/);
  assert.throws(() => parseFlags(['--model'], SPECS), /--model needs a value/);
  assert.throws(() => parseFlags(['--no-model'], SPECS), /only applies to a boolean flag/);
});
