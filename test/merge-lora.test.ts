/**
 * `swiftlet export --merge-lora`: the fixture adapter folded into the fixture model gives, with
 * no adapter loaded, transformers' base+adapter logprobs and greedy tokens (fp32, one shard and
 * many); the default keeps the base's dtype; the fp16/bf16 conversions round as torch does.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MERGE_LORA_FLAGS, mergeLoraCommand } from '../src/cli/commands/export-merge-lora.js';
import { loadModelSpec } from '../src/model/config.js';
import { SafetensorsCheckpoint, toFloat32 } from '../src/model/safetensors.js';
import { addLowRank } from '../src/model/merge-lora.js';
import { fromFloat32, planShards } from '../src/model/safetensors-writer.js';
import { createRunner } from '../src/runtime/create-runner.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { checkGreedy, checkTeacherForced, generateGreedy, teacherForced } from './helpers/cpu-reference.js';
import { loraDir, modelDir, reference } from './helpers/reference.js';

const work = mkdtempSync(join(tmpdir(), 'swiftlet-merge-'));

/** `swiftlet export ARGV` as far as --merge-lora goes (export.ts dispatches it here). */
function exportCommand(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { model: { kind: 'string', help: '' }, output: { kind: 'string', help: '' }, ...MERGE_LORA_FLAGS });
  return mergeLoraCommand(flags);
}
after(() => rmSync(work, { recursive: true, force: true }));

async function exportMerged(name: string, ...flags: string[]): Promise<string> {
  const output = join(work, name);
  const log = console.error;
  console.error = () => {};
  try {
    assert.equal(await exportCommand(['--model', modelDir, '--adapter', loraDir, '--merge-lora', '--output', output, ...flags]), 0);
  } finally {
    console.error = log;
  }
  return output;
}

function configOf(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

async function assertMatchesLoraReference(dir: string, label: string): Promise<void> {
  const runner: ModelRunner = await createRunner({ modelDir: dir, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 1, maxLoraRank: 8 });
  try {
    checkTeacherForced(await teacherForced(runner, reference.lora.a.logprobs), reference.lora.a.logprobs, label);
    const refs = [...reference.lora.a.chat, ...reference.lora.a.raw];
    checkGreedy(await generateGreedy(runner, refs, refs.map(() => -1)), refs, label);
  } finally {
    runner.dispose();
  }
}

describe('merge in float32, one shard', () => {
  let dir: string;
  before(async () => {
    dir = await exportMerged('fp32', '--dtype', 'float32');
  });

  test('writes config (with the dtype), generation config, tokenizer files and the weights', () => {
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(configOf(dir)['dtype'], 'float32');
    assert.equal(loadModelSpec(dir).dtype, 'float32');
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      assert.ok(readFileSync(join(dir, file)).equals(readFileSync(join(modelDir, file))), file);
    }
  });

  test('each adapted projection is W + scale·B·A', () => {
    const merged = SafetensorsCheckpoint.open(dir);
    const base = SafetensorsCheckpoint.open(modelDir);
    const adapter = SafetensorsCheckpoint.open(loraDir, 'adapter_model');
    try {
      const name = 'model.layers.1.mlp.down_proj';
      const w = toFloat32(base.read(`${name}.weight`));
      const a = toFloat32(adapter.read(`base_model.model.${name}.lora_A.weight`));
      const b = toFloat32(adapter.read(`base_model.model.${name}.lora_B.weight`));
      const [outFeatures = 0, inFeatures = 0] = base.info(`${name}.weight`).shape;
      const got = toFloat32(merged.read(`${name}.weight`));
      for (const [i, j] of [[0, 0], [5, 17], [outFeatures - 1, inFeatures - 1]] as const) {
        let delta = 0;
        for (let k = 0; k < 8; k++) delta += (b[i * 8 + k] as number) * (a[k * inFeatures + j] as number);
        const want = (w[i * inFeatures + j] as number) + 2 * delta; // lora_alpha 16 / r 8
        assert.ok(Math.abs((got[i * inFeatures + j] as number) - want) < 1e-6, `[${i}, ${j}]`);
      }
      assert.deepEqual(toFloat32(merged.read('model.norm.weight')), toFloat32(base.read('model.norm.weight')));
      assert.equal(merged.names().length, base.names().length);
    } finally {
      merged.close();
      base.close();
      adapter.close();
    }
  });

  test("the merged model gives transformers' base+adapter logprobs and greedy tokens", async () => {
    await assertMatchesLoraReference(dir, 'merged fp32');
  });
});

test('a sharded merge (tiny --max-shard-size) writes an index and loads the same', async () => {
  const dir = await exportMerged('sharded', '--dtype', 'float32', '--max-shard-size', '64KB');
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
    metadata: { total_size: number };
    weight_map: Record<string, string>;
  };
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  assert.ok(shards.length > 3, `${shards.length} shards`);
  assert.deepEqual(shards, readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort());
  assert.match(shards[0] ?? '', new RegExp(`^model-00001-of-${String(shards.length).padStart(5, '0')}\\.safetensors$`));
  assert.ok(!existsSync(join(dir, 'model.safetensors')));
  const base = SafetensorsCheckpoint.open(modelDir);
  assert.deepEqual(Object.keys(index.weight_map).sort(), base.names().sort());
  base.close();
  let totalSize = 0;
  for (const shard of shards) {
    const checkpoint = SafetensorsCheckpoint.open(dir);
    const names = Object.entries(index.weight_map).filter(([, file]) => file === shard).map(([name]) => name);
    const bytes = names.reduce((sum, name) => sum + checkpoint.info(name).shape.reduce((x, y) => x * y, 1) * 4, 0);
    checkpoint.close();
    totalSize += bytes;
    // NOTE: only a tensor larger than the limit by itself may exceed it.
    assert.ok(bytes <= 64_000 || names.length === 1, `${shard}: ${bytes} bytes in ${names.length} tensors`);
    assert.ok(statSync(join(dir, shard)).size > bytes);
  }
  assert.equal(index.metadata.total_size, totalSize);
  await assertMatchesLoraReference(dir, 'merged fp32 sharded');
});

test("without --dtype the base's dtype is kept; tensors without an adapter are copied bit for bit", async () => {
  const dir = await exportMerged('bf16');
  assert.equal(configOf(dir)['dtype'], 'bfloat16');
  const merged = SafetensorsCheckpoint.open(dir);
  const base = SafetensorsCheckpoint.open(modelDir);
  try {
    assert.equal(merged.info('model.layers.0.self_attn.q_proj.weight').dtype, 'bfloat16');
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.bias', 'model.layers.1.input_layernorm.weight']) {
      assert.ok(Buffer.from(merged.read(name).bytes).equals(Buffer.from(base.read(name).bytes)), name);
    }
    assert.ok(!Buffer.from(merged.read('model.layers.0.self_attn.q_proj.weight').bytes).equals(Buffer.from(base.read('model.layers.0.self_attn.q_proj.weight').bytes)));
  } finally {
    merged.close();
    base.close();
  }
});

test('bad merges are refused with clear errors', async () => {
  const quiet = async (argv: string[]) => {
    const log = console.error;
    console.error = () => {};
    try {
      return await exportCommand(argv);
    } finally {
      console.error = log;
    }
  };
  await assert.rejects(quiet(['--model', modelDir, '--merge-lora', '--output', join(work, 'x')]), /--merge-lora needs --adapter DIR/);
  await assert.rejects(quiet(['--model', modelDir, '--adapter', loraDir, '--merge-lora']), /--merge-lora needs --output DIR/);
  await assert.rejects(quiet(['--model', modelDir, '--adapter', loraDir, '--merge-lora', '--output', join(work, 'y'), '--dtype', 'int8']), /--dtype must be/);
  const occupied = join(work, 'occupied');
  mkdirSync(occupied);
  writeFileSync(join(occupied, 'keep.txt'), 'mine');
  await assert.rejects(quiet(['--model', modelDir, '--adapter', loraDir, '--merge-lora', '--output', occupied]), /exists and is not empty/);
  // The adapter was made for tiny-qwen2 (hidden 64), not the demo model (hidden 256).
  await assert.rejects(quiet(['--adapter', loraDir, '--merge-lora', '--output', join(work, 'z')]), /down_proj\.weight is \[256,768\] but lora_A is \[8,128\]/);
  assert.ok(!existsSync(join(work, 'z')), 'nothing written when the adapter does not fit');
});

test('fp32 to bf16 and fp16 round to nearest even', () => {
  const u16 = (bytes: Uint8Array) => [...new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)];
  const bf16 = u16(fromFloat32(Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, Infinity]), 'bfloat16'));
  assert.deepEqual(bf16, [0x3f80, 0x3f80, 0x3f82, 0xc020, 0x7f80]);
  const f16 = u16(fromFloat32(Float32Array.from([1, 65504, 1e6, 2 ** -24, 1e-9, 0.1, -0, 1 + 2 ** -11]), 'float16'));
  assert.deepEqual(f16, [0x3c00, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x2e66, 0x8000, 0x3c00]);
  const back = toFloat32({ dtype: 'float16', shape: [3], bytes: fromFloat32(Float32Array.from([0.5, -3.25, 1024]), 'float16') });
  assert.deepEqual([...back], [0.5, -3.25, 1024]);
});

test('shards are planned as transformers plans them', () => {
  const t = (name: string, n: number) => ({ name, dtype: 'float32' as const, shape: [n] });
  const plan = planShards([t('a', 10), t('b', 10), t('c', 100), t('d', 5)], 80);
  assert.deepEqual(plan.map((s) => [s.file, s.tensors.map((x) => x.name)]), [
    ['model-00001-of-00003.safetensors', ['a', 'b']],
    ['model-00002-of-00003.safetensors', ['c']],
    ['model-00003-of-00003.safetensors', ['d']],
  ]);
  assert.deepEqual(planShards([t('a', 10)], 80).map((s) => s.file), ['model.safetensors']);
});

test('W + scale·B·A for shapes that are not multiples of the row block', () => {
  const [outFeatures, inFeatures, rank, scale] = [7, 5, 3, 0.5];
  const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + n) * 2);
  const w = random(outFeatures * inFeatures);
  const a = random(rank * inFeatures);
  const b = random(outFeatures * rank);
  const want = Float32Array.from(w);
  for (let i = 0; i < outFeatures; i++) {
    for (let j = 0; j < inFeatures; j++) {
      let delta = 0;
      for (let k = 0; k < rank; k++) delta += (b[i * rank + k] as number) * (a[k * inFeatures + j] as number);
      want[i * inFeatures + j] = (want[i * inFeatures + j] as number) + scale * delta;
    }
  }
  addLowRank(w, a, b, outFeatures, inFeatures, rank, scale);
  w.forEach((value, i) => assert.ok(Math.abs(value - (want[i] as number)) < 1e-5, `element ${i}`));
});
