/**
 * Issue 18, a newcomer's first hour: SWIFT's spellings are accepted on the commands that
 * take them, an unknown flag or command gets "did you mean", `--version` answers, and an
 * adapter given without --model runs on its base model or is refused clearly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFlags, UsageError } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { SWIFTLET_VERSION } from '../src/server/version.js';
import { repoRoot } from './helpers/paths.js';
import { loraDir, modelDir } from './helpers/reference.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function swiftlet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function optionsOf(argv: string[]) {
  return modelOptionsFrom(parseFlags(argv, MODEL_FLAGS).flags);
}

test("SWIFT's model flags map onto swiftlet's", () => {
  assert.equal(optionsOf(['--model_type', 'qwen2_5-0_5b-instruct']).model, 'qwen2_5-0_5b-instruct');
  assert.equal(optionsOf(['--model_type', 'qwen2_5-0_5b-instruct', '--model_id_or_path', '/ckpt']).model, '/ckpt');
  assert.equal(optionsOf(['--template_type', 'chatml']).chatTemplate, 'chatml');
  assert.equal(optionsOf(['--max_batch_size', '8']).maxNumSeqs, 8);
  for (const backend of ['pt', 'vllm']) assert.doesNotThrow(() => optionsOf(['--infer_backend', backend]));
  assert.doesNotThrow(() => optionsOf(['--torch_dtype', 'bfloat16', '--use_hf', 'true']));
  assert.throws(() => optionsOf(['--infer_backend', 'lmdeploy']), (e: unknown) => e instanceof UsageError && /lmdeploy is not available.*pt or vllm/.test(e.message));
  assert.throws(() => optionsOf(['--torch_dtype', 'int3']), UsageError);
});

test("SWIFT's command flags: infer --ckpt_dir --merge_lora, deploy --adapters, export --output_dir", () => {
  for (const args of [
    ['infer', '--ckpt_dir', 'adapter', '--merge_lora', 'true', '--help'],
    ['deploy', '--adapters', 'a=adapter', 'other', '--help'],
    ['export', '--output_dir', 'out', '--help'],
    ['run-batch', '--model_type', 'qwen2_5-0_5b-instruct', '--infer_backend', 'vllm', '--help'],
  ]) {
    const result = swiftlet(args);
    assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
  }
});

test('unknown flags and commands get "did you mean"; --version prints the version', () => {
  assert.match(swiftlet(['infer', '--temprature', '0']).stderr, /unknown flag --temprature \(did you mean --temperature\?\)/);
  assert.match(swiftlet(['run-bach']).stderr, /did you mean 'run-batch'/);
  const version = swiftlet(['--version']);
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), `swiftlet ${SWIFTLET_VERSION}`);
});

test("an adapter without --model runs on its base_model_name_or_path, or is refused in one line", () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-adapter-base-'));
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, `${JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/completions', body: { model: 'a', prompt: 'hi', max_tokens: 2 } })}\n`);
  // The fixture adapter names the directory it was trained in, which is not on this machine.
  const refused = swiftlet(['run-batch', '-i', input, '-o', join(dir, 'refused.jsonl'), '--lora-modules', `a=${loraDir}`, '--device', 'cpu']);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /^swiftlet run-batch: adapter 'a' was trained on \/tmp\/fx\/p\/tiny-qwen2 .* give --model/);
  const adapter = join(dir, 'adapter');
  cpSync(loraDir, adapter, { recursive: true });
  const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: modelDir }));
  const ran = swiftlet(['run-batch', '-i', input, '-o', join(dir, 'out.jsonl'), '--lora-modules', `a=${adapter}`, '--device', 'cpu', '--kv-cache-memory', '64MiB']);
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stderr, new RegExp(`loaded Qwen2ForCausalLM from ${modelDir}`));
});
