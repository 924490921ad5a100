/**
 * LoRA on the families whose checkpoints fuse projections (Qwen v1's c_attn, ChatGLM's
 * query_key_value and dense_h_to_4h), with PEFT's target names: an adapter applied at run time
 * (split per canonical projection, src/runtime/native-lora.ts) gives the logprobs of the same
 * adapter merged into the checkpoint's own fused tensors by `export --merge-lora`, and moves
 * them away from the base model's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModelSpec } from '../src/model/config.js';
import { readLoraAdapter } from '../src/model/lora.js';
import { mergeLora } from '../src/model/merge-lora.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';
import { createRunner } from '../src/runtime/create-runner.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { teacherForced } from './helpers/cpu-reference.js';
import { familyReference } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';
import { writeRandomLora } from './helpers/random-lora.js';

const RANK = 4;

const families = [
  // NOTE: `c_proj` names both attn.c_proj and mlp.c_proj, so Qwen v1 has five adapted modules per layer.
  { name: 'tiny-qwen1', targets: ['c_attn', 'c_proj', 'w1', 'w2'], modulesPerLayer: 5, fused: 'transformer.h.1.attn.c_attn.weight' },
  {
    name: 'tiny-chatglm3', targets: ['query_key_value', 'dense', 'dense_h_to_4h', 'dense_4h_to_h'], modulesPerLayer: 4,
    fused: 'transformer.encoder.layers.1.mlp.dense_h_to_4h.weight',
  },
];

async function targetLogprobs(runner: ModelRunner, ids: number[], adapterSlot: number): Promise<Float32Array> {
  const ref = { ids, positions: [], next_top: [] };
  return (await teacherForced(runner, [ref], adapterSlot)).positionTargetLogprobs;
}

describe('LoRA with fused PEFT targets: at run time = merged', () => {
  for (const { name, targets, modulesPerLayer, fused } of families) {
    test(name, async () => {
      const baseDir = join(fixtureDir, name);
      const spec = loadModelSpec(baseDir);
      const adapterDir = mkdtempSync(join(tmpdir(), 'swiftlet-family-lora-'));
      writeRandomLora(adapterDir, spec, { targets, rank: RANK, alpha: 2 * RANK, seed: 11, magnitude: 0.3 });
      const mergedDir = join(mkdtempSync(join(tmpdir(), 'swiftlet-family-merged-')), 'out');
      const merged = mergeLora({ baseDir, adapterDir, outputDir: mergedDir, dtype: 'float32' });
      assert.equal(merged.numMerged, modulesPerLayer * spec.numLayers, 'every targeted module of every layer');
      const names = SafetensorsCheckpoint.open(mergedDir).names();
      assert.ok(names.includes(fused), 'the merged checkpoint keeps the family\'s own (fused) names');

      const ids = familyReference(name).logprobs[1]!.ids;
      const base = await createRunner({ modelDir: baseDir, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 1, maxLoraRank: RANK });
      const fromMerged = await createRunner({ modelDir: mergedDir, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0 });
      try {
        base.loadAdapter(0, readLoraAdapter(adapterDir, RANK, spec));
        const withAdapter = await targetLogprobs(base, ids, 0);
        const withoutAdapter = await targetLogprobs(base, ids, -1);
        const wantMerged = await targetLogprobs(fromMerged, ids, -1);
        let moved = 0;
        for (let i = 0; i < ids.length - 1; i++) {
          assert.ok(Math.abs((withAdapter[i] ?? NaN) - (wantMerged[i] ?? NaN)) < 1e-3, `${name} position ${i}: ${withAdapter[i]} vs merged ${wantMerged[i]}`);
          moved = Math.max(moved, Math.abs((withAdapter[i] ?? 0) - (withoutAdapter[i] ?? 0)));
        }
        assert.ok(moved > 0.05, `the adapter changes the logprobs (by up to ${moved})`);
      } finally {
        base.dispose();
        fromMerged.dispose();
      }
    });
  }
});
