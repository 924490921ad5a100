/**
 * `export --to-gguf` against llama.cpp itself (node-llama-cpp, CPU): the exported fixture
 * must give transformers' greedy tokens and teacher-forced logprobs in every output type.
 * Variants of the fixture cover what the Qwen2 fixture cannot: the `llama` architecture's
 * q/k row permutation (checked against the same transformers reference, since a Llama with
 * q/k/v bias computes what Qwen2 computes), llama3, linear and yarn rope scaling, Llama MLP
 * biases and Qwen3's q/k norms (checked against swiftlet's CPU runner on the same checkpoint,
 * after asserting that the variant's outputs differ from the plain fixture's).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { ControlledEvaluateInputItem, Llama, LlamaContextSequence, Token } from 'node-llama-cpp';
import { loadModelSpec, specFromConfig } from '../src/model/config.js';
import { halfBitsFromFloat, float32Values, toQ4_0, toQ8_0 } from '../src/model/gguf/encode.js';
import { exportGguf, type GgufOutType } from '../src/model/gguf/export-gguf.js';
import { GgufBuilder } from '../src/model/gguf/gguf-file.js';
import { llama3RopeFactors, setModelMetadata } from '../src/model/gguf/model-metadata.js';
import { mergeOf } from '../src/model/gguf/qwen-tiktoken-metadata.js';
import { permuteRopeRows } from '../src/model/gguf/tensor-names.js';
import { derivePreTokenizer, setTokenizerMetadata } from '../src/model/gguf/tokenizer-metadata.js';
import { TOKEN_TYPE } from '../src/model/gguf/vocabulary.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';
import { SafetensorsWriter, type TensorPlan } from '../src/model/safetensors-writer.js';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence } from './helpers/manual-batch.js';
import { createRunner } from '../src/runtime/create-runner.js';
import type { ModelRunner, TensorData } from '../src/runtime/types.js';
import { MODEL_DIR, reference, teacherForced, type RefGeneration, type RefLogprobs } from './helpers/cpu-reference.js';
import { familyReference } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';
import type { Reference } from './helpers/reference.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { SPECIAL_TOKENS as QWEN_SPECIAL_TOKENS } from '../src/model/tokenizers/qwen-tiktoken.js';

type Json = Record<string, unknown>;
/** The parts of a fixture's transformers reference (tiny-*.ref.json) the checks here read. */
type FixtureReference = Pick<Reference, 'raw' | 'chat' | 'logprobs'>;

/** What a correct engine produces for one model: greedy continuations and top-5 distributions. */
interface Expected {
  greedy: { promptIds: number[]; outputIds: number[]; margins: number[] }[];
  /** Per sequence, per position: the top 5 [token, logprob] after ids[0..i]. */
  teacher: { ids: number[]; top: [number, number][][] }[];
}

/** Greedy steps whose top-2 margin is below this may legitimately differ between engines. */
const LOW_MARGIN = 0.05;
/** Largest |logprob| difference of the top 5 tolerated per weight format (llama.cpp rounds activations to the weights' type). */
const LOGPROB_TOLERANCE: Record<Exclude<GgufOutType, 'q4_0'>, number> = { f32: 0.03, f16: 0.03, bf16: 0.3, q8_0: 1 };
/**
 * Every fixture prompt and both short teacher-forced sequences (7 and 33 tokens) for the f32
 * export; the raw prompts and the 7-token sequence for the others.
 * NOTE: node-llama-cpp hands over each full distribution as a Map of 152k entries (about 0.1 s
 * a position), which is what bounds this file's run time.
 */
function fixtureChecks(full: boolean, ref: FixtureReference = reference): { prompts: RefGeneration[]; sequences: RefLogprobs[] } {
  return {
    prompts: full ? [...ref.raw, ...ref.chat] : ref.raw,
    sequences: ref.logprobs.filter((r) => r.ids.length <= (full ? 33 : 7)),
  };
}

function fromReference(full: boolean, ref: FixtureReference = reference): Expected {
  const { prompts, sequences } = fixtureChecks(full, ref);
  return {
    greedy: prompts.map((r) => ({ promptIds: r.prompt_ids, outputIds: r.output_ids, margins: r.margins })),
    teacher: sequences.map((r) => ({ ids: r.ids, top: [...r.positions.map((p) => p.top), r.next_top] })),
  };
}

/** The same from swiftlet's CPU runner (fp32), for variants transformers was not run on. */
async function fromSwiftlet(modelDir: string, ref: FixtureReference = reference): Promise<Expected> {
  const { prompts, sequences } = fixtureChecks(false, ref);
  const runner = await createRunner({ modelDir, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0 });
  try {
    const greedy = [];
    for (const r of prompts) greedy.push(await swiftletGreedy(runner, r.prompt_ids, r.output_ids.length));
    const out = await teacherForced(runner, sequences);
    let entry = 0;
    const teacher = sequences.map((r) => {
      const top = r.ids.map(() => {
        const ids = out.positionTopTokenIds.subarray(entry * 5, entry * 5 + 5);
        const lps = out.positionTopLogprobs.subarray(entry * 5, entry * 5 + 5);
        entry++;
        return [...ids].map((id, k): [number, number] => [id, lps[k] ?? NaN]);
      });
      return { ids: r.ids, top };
    });
    return { greedy, teacher };
  } finally {
    runner.dispose();
  }
}

async function swiftletGreedy(runner: ModelRunner, promptIds: number[], numTokens: number): Promise<Expected['greedy'][number]> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seq = new ManualSequence(promptIds, { ...GREEDY, numLogprobs: 2 });
  const margins: number[] = [];
  while (seq.outputIds.length < numTokens) {
    const entries = [{ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }];
    const out = await runner.execute(buildStepBatch(pool, entries));
    margins.push((out.topLogprobs[0] ?? 0) - (out.topLogprobs[1] ?? 0));
    commitStep(entries, out.sampledTokenIds);
  }
  return { promptIds, outputIds: seq.outputIds, margins };
}

async function llamaGreedy(sequence: LlamaContextSequence, promptIds: number[], numTokens: number): Promise<number[]> {
  await sequence.clearHistory();
  const out: number[] = [];
  for await (const token of sequence.evaluate(promptIds as Token[], { temperature: 0, yieldEogToken: true })) {
    out.push(token);
    if (out.length >= numTokens) break;
  }
  return out;
}

/** The full next-token distribution after every prefix of `ids`, as natural-log probabilities. */
async function llamaTeacherForced(sequence: LlamaContextSequence, ids: number[]): Promise<((id: number) => number)[]> {
  await sequence.clearHistory();
  const next = { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } };
  const input: ControlledEvaluateInputItem[] = ids.map((id) => [id as Token, { generateNext: next }]);
  const out = await sequence.controlledEvaluate(input);
  return ids.map((_, i) => {
    const probabilities = out[i]?.next.probabilities;
    assert.ok(probabilities, `no distribution at position ${i}`);
    return (id: number) => Math.log(probabilities.get(id as Token) ?? 0);
  });
}

async function checkAgainst(llama: Llama, ggufPath: string, expected: Expected, tolerance: number, label: string): Promise<void> {
  const model = await llama.loadModel({ modelPath: ggufPath });
  // NOTE: one thread: llama.cpp's spinning workers crawl on a 2-core machine that is busy with other work.
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
  try {
    const sequence = context.getSequence();
    for (const [i, want] of expected.greedy.entries()) {
      const got = await llamaGreedy(sequence, want.promptIds, want.outputIds.length);
      for (let k = 0; k < want.outputIds.length; k++) {
        assert.equal(got[k], want.outputIds[k], `${label} greedy ${i} token ${k}: ${JSON.stringify(got)} vs ${JSON.stringify(want.outputIds)}`);
        if ((want.margins[k] ?? Infinity) < LOW_MARGIN) break;
      }
    }
    for (const [s, want] of expected.teacher.entries()) {
      const got = await llamaTeacherForced(sequence, want.ids);
      want.top.forEach((top, i) => {
        for (const [id, logprob] of top) {
          const value = got[i]?.(id) ?? NaN;
          assert.ok(Math.abs(value - logprob) <= tolerance, `${label} sequence ${s} position ${i} token ${id}: logprob ${value} vs ${logprob}`);
        }
      });
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

function f32Tensor(values: Float32Array): TensorData {
  return { dtype: 'float32', shape: [values.length], bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** The rows of `tensor` in the [start, end) ranges, in order. */
function keepRows(tensor: TensorData, ranges: [number, number][]): TensorData {
  const rowBytes = tensor.bytes.byteLength / (tensor.shape[0] ?? 1);
  const parts = ranges.map(([start, end]) => tensor.bytes.subarray(start * rowBytes, end * rowBytes));
  const bytes = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  parts.reduce((offset, part) => (bytes.set(part, offset), offset + part.byteLength), 0);
  return { ...tensor, shape: [ranges.reduce((n, [start, end]) => n + end - start, 0), ...tensor.shape.slice(1)], bytes };
}

/** The first `columns` columns of a matrix. */
function keepColumns(tensor: TensorData, columns: number): TensorData {
  const [rows = 0, width = 0] = tensor.shape;
  const elementBytes = tensor.bytes.byteLength / (rows * width);
  const bytes = new Uint8Array(rows * columns * elementBytes);
  for (let r = 0; r < rows; r++) bytes.set(tensor.bytes.subarray(r * width * elementBytes, (r * width + columns) * elementBytes), r * columns * elementBytes);
  return { ...tensor, shape: [rows, columns], bytes };
}

/** Zero o_proj biases: a Llama with attention_bias has them, Qwen2 has none. */
function zeroOutputBiases(): Map<string, TensorData> {
  return new Map(Array.from({ length: 2 }, (_, layer) => [`model.layers.${layer}.self_attn.o_proj.bias`, f32Tensor(new Float32Array(64))] as const));
}

/** Deterministic values uniform in [-amplitude, amplitude) from a 32-bit LCG, so a failure reproduces. */
function randomVector(length: number, seed: number, amplitude: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return ((state / 2 ** 32) * 2 - 1) * amplitude;
  });
}

/**
 * Asserts that `variant` is not what `base` computes, so that checkAgainst would fail an engine
 * that ignored the variant's change and computed `base`: a greedy token differs where both
 * runs were still above the low-margin threshold, or a token in both top-5 lists moves by more
 * than twice the tolerance. Returns the evidence for t.diagnostic.
 */
function assertChanged(variant: Expected, base: Expected, baseLabel: string, tolerance: number, label: string): string {
  let greedyDiffs = 0;
  variant.greedy.forEach((v, i) => {
    const b = base.greedy[i];
    assert.ok(b && b.promptIds.join() === v.promptIds.join(), `${label}: greedy ${i} has another prompt`);
    for (let k = 0; k < v.outputIds.length; k++) {
      const decisive = (b.margins[k] ?? 0) >= LOW_MARGIN && (v.margins[k] ?? 0) >= LOW_MARGIN;
      if (v.outputIds[k] !== b.outputIds[k]) {
        if (decisive) greedyDiffs++;
        break;
      }
      if (!decisive) break;
    }
  });
  let shift = 0;
  variant.teacher.forEach((v, s) =>
    v.top.forEach((top, i) => {
      const other = new Map(base.teacher[s]?.top[i] ?? []);
      for (const [id, logprob] of top) {
        const was = other.get(id);
        if (was !== undefined) shift = Math.max(shift, Math.abs(logprob - was));
      }
    }),
  );
  const evidence = `${label}: ${greedyDiffs}/${variant.greedy.length} greedy runs differ decisively from ${baseLabel}; largest top-5 logprob shift ${shift.toFixed(3)}`;
  assert.ok(greedyDiffs > 0 || shift > 2 * tolerance, `${evidence}: the variant does not change what is checked`);
  return evidence;
}

/** A copy of a fixture (default tiny-qwen2) with config.json patched and tensors dropped (`edit` false) or added. */
function writeVariant(dir: string, patch: Json, edit: (name: string) => boolean, extra: Map<string, TensorData>, fixture = MODEL_DIR): string {
  const config = { ...(JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8')) as Json), ...patch };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const file of readdirSync(fixture)) {
    if (file !== 'config.json' && !file.endsWith('.safetensors')) copyFileSync(join(fixture, file), join(dir, file));
  }
  const source = SafetensorsCheckpoint.open(fixture);
  try {
    const kept = source.names().filter(edit);
    const plans: TensorPlan[] = [
      ...kept.map((name) => ({ name, ...source.info(name) })),
      ...[...extra].map(([name, tensor]): TensorPlan => ({ name, dtype: tensor.dtype, shape: tensor.shape })),
    ];
    const writer = new SafetensorsWriter(dir, plans, Number.MAX_SAFE_INTEGER);
    for (const plan of writer.order()) {
      writer.write(plan.name, (extra.get(plan.name) ?? source.read(plan.name)).bytes);
    }
    writer.finish();
  } finally {
    source.close();
  }
  return dir;
}

describe('gguf encoding and metadata (no llama.cpp)', () => {
  test('f16 rounding: nearest even, subnormals, overflow, NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -14, 0x0400],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [Infinity, 0x7c00],
    ];
    for (const [value, bits] of cases) assert.equal(halfBitsFromFloat(value), bits, `f16 of ${value}`);
    assert.equal(halfBitsFromFloat(NaN) & 0x7c00, 0x7c00);
    assert.notEqual(halfBitsFromFloat(NaN) & 0x3ff, 0);
  });

  test('q8_0 blocks: f16 scale max|x|/127, values within half a step', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * (i < 32 ? 0.02 : 3));
    const packed = toQ8_0(values);
    assert.equal(packed.byteLength, 2 * 34);
    for (let b = 0; b < 2; b++) {
      const scale = float32Values({ dtype: 'float16', shape: [1], bytes: packed.slice(b * 34, b * 34 + 2) })[0] ?? 0;
      const quants = new Int8Array(packed.buffer, b * 34 + 2, 32);
      for (let i = 0; i < 32; i++) {
        const x = values[b * 32 + i] ?? 0;
        assert.ok(Math.abs((quants[i] ?? 0) * scale - x) <= scale * 0.51 + 1e-6, `block ${b} value ${i}`);
      }
    }
  });

  test('q4_0 blocks: f16 scale (largest-magnitude value / -8), codes within half a step (a step where clipped at 15), low nibbles first', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i) * (i < 32 ? 0.02 : 3));
    const packed = toQ4_0(values);
    assert.equal(packed.byteLength, 2 * 18);
    for (let b = 0; b < 2; b++) {
      const scale = float32Values({ dtype: 'float16', shape: [1], bytes: packed.slice(b * 18, b * 18 + 2) })[0] ?? 0;
      for (let i = 0; i < 32; i++) {
        const byte = packed[b * 18 + 2 + (i % 16)] ?? 0;
        const code = i < 16 ? byte & 15 : byte >> 4;
        const x = values[b * 32 + i] ?? 0;
        const steps = code === 15 ? 1.01 : 0.51;
        assert.ok(Math.abs((code - 8) * scale - x) <= Math.abs(scale) * steps + 1e-6, `block ${b} value ${i}`);
      }
    }
  });

  test('llama q/k rows regroup each head from halves to adjacent pairs', () => {
    const rows = Uint8Array.from({ length: 16 }, (_, i) => i);
    // two heads of 4 rows, rows of 2 bytes
    assert.deepEqual([...permuteRopeRows(rows, 8, 2)], [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
  });

  test('llama3 rope factors: 1 for high frequencies, factor for low, interpolated between', () => {
    const config = { ...(JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')) as Json) };
    config['architectures'] = ['LlamaForCausalLM'];
    config['rope_parameters'] = { rope_type: 'llama3', rope_theta: 1e6, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 2048 };
    const factors = [...llama3RopeFactors(specFromConfig(config))];
    assert.equal(factors.length, 8);
    assert.equal(factors[0], 1);
    assert.equal(factors[7], 8);
    assert.ok(factors.some((f) => f > 1 && f < 8), `one interpolated factor in ${factors.join(', ')}`);
  });

  test('pre-tokenizer type from the split regex: qwen2, llama-bpe, gpt-2, else a clear error', () => {
    const tokenizer = JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer.json'), 'utf8')) as Json;
    assert.equal(derivePreTokenizer(tokenizer), 'qwen2');
    const regex = (pattern: string) => ({
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', use_regex: false }] },
    });
    const qwen = ((((tokenizer['pre_tokenizer'] as Json)['pretokenizers'] as Json[])[0] as Json)['pattern'] as Json)['Regex'] as string;
    assert.equal(derivePreTokenizer(regex(qwen.replace('\\p{N}|', '\\p{N}{1,3}|'))), 'llama-bpe');
    assert.equal(derivePreTokenizer({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true } }), 'gpt-2');
    assert.throws(() => derivePreTokenizer(regex('\\w+')), /cannot tell which llama\.cpp pre-tokenizer.*--tokenizer-pre/);
    assert.throws(() => derivePreTokenizer({ pre_tokenizer: { type: 'Metaspace' } }), /only byte-level BPE/);
  });

  test("tiktoken ranks to merges: BPE over a token's bytes with the lower ranks only, two parts or a clear error", () => {
    const ranks = new Map(['a', 'b', 'c', 'bc', 'ab', 'abc', 'ca'].map((token, rank) => [token, rank]));
    // NOTE: "bc" (rank 3) merges before "ab" (4), so "abc" is a + bc, not ab + c.
    assert.deepEqual(mergeOf('abc', 5, ranks), ['a', 'bc']);
    assert.deepEqual(mergeOf('ab', 4, ranks), ['a', 'b']);
    assert.throws(() => mergeOf('acb', 7, ranks), /rank 7 is not one merge/);
  });

  test("Qwen v1 and ChatGLM3 hyperparameters as llama.cpp's qwen and chatglm read them", () => {
    const qwen = new GgufBuilder();
    setModelMetadata(qwen, loadModelSpec(join(fixtureDir, 'tiny-qwen1')));
    assert.deepEqual(qwen.get('general.architecture'), { type: 'string', value: 'qwen' });
    assert.deepEqual(qwen.get('qwen.feed_forward_length'), { type: 'uint32', value: 64 }, "the config's intermediate_size: llama.cpp halves it for w1 and w2");
    assert.deepEqual(qwen.get('qwen.rope.dimension_count'), { type: 'uint32', value: 8 });
    const config = JSON.parse(readFileSync(join(fixtureDir, 'tiny-chatglm3', 'config.json'), 'utf8')) as Json;
    const glm = new GgufBuilder();
    setModelMetadata(glm, specFromConfig({ ...config, num_attention_heads: 2 }));
    assert.deepEqual(glm.get('chatglm.rope.dimension_count'), { type: 'uint32', value: 4 }, 'rotary over the first half of each 8-wide head');
    assert.deepEqual(glm.get('chatglm.attention.head_count_kv'), { type: 'uint32', value: 2 });
    assert.deepEqual(glm.get('chatglm.feed_forward_length'), { type: 'uint32', value: 40 });
    assert.throws(() => setModelMetadata(new GgufBuilder(), specFromConfig({ ...config, add_bias_linear: true })), /"chatglm" architecture has no dense or MLP bias/);
  });

  test('tokenizer keys: padded vocabulary, control tokens, merges, special ids, chat template', () => {
    const spec = loadModelSpec(MODEL_DIR);
    const gguf = new GgufBuilder();
    setTokenizerMetadata(gguf, MODEL_DIR, spec);
    const tokens = gguf.get('tokenizer.ggml.tokens');
    const types = gguf.get('tokenizer.ggml.token_type');
    assert.ok(tokens?.type === 'array' && tokens.itemType === 'string' && types?.type === 'array' && types.itemType === 'int32');
    assert.equal(tokens.value.length, spec.vocabSize);
    assert.equal(tokens.value[785], 'The');
    assert.equal(tokens.value[151645], '<|im_end|>');
    assert.equal(types.value[151645], TOKEN_TYPE.control);
    assert.equal(types.value[785], TOKEN_TYPE.normal);
    assert.equal(tokens.value[151935], '[PAD151935]');
    assert.equal(types.value[151935], TOKEN_TYPE.unused);
    const merges = gguf.get('tokenizer.ggml.merges');
    assert.ok(merges?.type === 'array' && merges.itemType === 'string');
    assert.equal(merges.value[0], 'Ġ Ġ');
    assert.deepEqual(gguf.get('tokenizer.ggml.pre'), { type: 'string', value: 'qwen2' });
    assert.deepEqual(gguf.get('tokenizer.ggml.bos_token_id'), { type: 'uint32', value: 151643 });
    assert.deepEqual(gguf.get('tokenizer.ggml.eos_token_id'), { type: 'uint32', value: 151645 });
    assert.deepEqual(gguf.get('tokenizer.ggml.padding_token_id'), { type: 'uint32', value: 151643 });
    assert.deepEqual(gguf.get('tokenizer.ggml.add_bos_token'), { type: 'bool', value: false });
    const config = JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer_config.json'), 'utf8')) as Json;
    assert.deepEqual(gguf.get('tokenizer.chat_template'), { type: 'string', value: config['chat_template'] });
  });

  test('refused with a clear error: llama3 rope outside the llama architecture, dynamic NTK, yarn ramp bounds llama.cpp ignores', () => {
    const config = JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')) as Json;
    const llama3 = { ...config, rope_parameters: { rope_type: 'llama3', rope_theta: 1e6, factor: 8 } };
    assert.throws(() => setModelMetadata(new GgufBuilder(), specFromConfig(llama3)), /llama3 rope scaling is only loadable by llama\.cpp's "llama" architecture/);
    const dynamic = { ...config, rope_parameters: { rope_type: 'dynamic', rope_theta: 1e6, factor: 2 } };
    assert.throws(() => setModelMetadata(new GgufBuilder(), specFromConfig(dynamic)), /dynamic NTK/);
    // NOTE: llama.cpp's llama/qwen2/qwen3 never read the yarn_beta_* keys. Checked by hand on the
    // yarn variant below: yarn_beta_slow 0.1 (ramp end at pair 3 instead of 2) left llama.cpp's
    // outputs unchanged, original_context_length 256 (the same move) changed them. Defaults export.
    const yarn = { rope_type: 'yarn', rope_theta: 1e6, factor: 4, original_max_position_embeddings: 64 };
    assert.throws(() => setModelMetadata(new GgufBuilder(), specFromConfig({ ...config, rope_parameters: { ...yarn, beta_slow: 2 } })), /beta_slow 2: llama\.cpp's "qwen2" architecture ignores both/);
    setModelMetadata(new GgufBuilder(), specFromConfig({ ...config, rope_parameters: { ...yarn, beta_fast: 32, beta_slow: 1 } }));
  });
});

describe('llama.cpp (node-llama-cpp, CPU) runs the exported files', () => {
  let llama: Llama | undefined;
  let skipReason = '';
  let workDir = '';

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'swiftlet-gguf-'));
    try {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    } catch (error) {
      skipReason = `node-llama-cpp cannot load on this machine: ${(error as Error).message}`;
    }
  });
  after(async () => {
    await llama?.dispose();
    rmSync(workDir, { recursive: true, force: true });
  });

  function ready(t: TestContext): Llama | undefined {
    if (!llama) t.skip(skipReason);
    return llama;
  }

  for (const outType of ['f32', 'f16', 'bf16', 'q8_0'] as const) {
    test(`tiny-qwen2 as ${outType}: transformers' greedy tokens and logprobs`, async (t) => {
      const instance = ready(t);
      if (!instance) return;
      const path = join(workDir, `tiny-qwen2-${outType}.gguf`);
      exportGguf({ modelDir: MODEL_DIR, outputPath: path, outType });
      await checkAgainst(instance, path, fromReference(outType === 'f32'), LOGPROB_TOLERANCE[outType], outType);
    });
  }

  // NOTE: logprobs are not compared at q4_0: on this 64-wide model they move by up to 3.5 from transformers' (open: whether that is all 4-bit rounding).
  test('tiny-qwen2 as q4_0: llama.cpp loads it and reads the Q4_0 tensors', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const path = join(workDir, 'tiny-qwen2-q4_0.gguf');
    exportGguf({ modelDir: MODEL_DIR, outputPath: path, outType: 'q4_0' });
    const model = await instance.loadModel({ modelPath: path });
    await model.dispose();
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(path, { ignoreKeys: ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges', 'tokenizer.ggml.token_type'], logWarnings: false });
    assert.equal((info.metadata as unknown as Record<string, Record<string, unknown>>)['general']?.['file_type'], 2);
    assert.equal(info.tensorInfo?.find((tensor) => tensor.name === 'blk.0.ffn_down.weight')?.ggmlType, 2);
  });

  test('the file reads back with the keys and tensors llama.cpp names', async (t) => {
    if (!ready(t)) return;
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const path = join(workDir, 'tiny-qwen2-metadata.gguf');
    exportGguf({ modelDir: MODEL_DIR, outputPath: path, outType: 'q8_0' });
    const info = await readGgufFileInfo(path, { ignoreKeys: ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges', 'tokenizer.ggml.token_type'], logWarnings: false });
    assert.equal(info.version, 3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(meta['general']?.['architecture'], 'qwen2');
    assert.equal(meta['general']?.['file_type'], 7);
    const qwen2 = meta['qwen2'] as Record<string, unknown> & { attention: Record<string, unknown>; rope: Record<string, unknown> };
    assert.equal(qwen2['embedding_length'], 64);
    assert.equal(qwen2['block_count'], 2);
    assert.equal(qwen2['context_length'], 4096);
    assert.equal(qwen2.attention['head_count'], 4);
    assert.equal(qwen2.attention['head_count_kv'], 2);
    assert.equal(qwen2.attention['key_length'], 16);
    assert.equal(qwen2.rope['freq_base'], 1e6);
    const tensors = new Map((info.tensorInfo ?? []).map((tensor) => [tensor.name, tensor]));
    assert.equal(tensors.size, 2 + 2 * 12, 'embedding, final norm and 12 per layer; no output.weight when tied');
    assert.deepEqual(tensors.get('token_embd.weight')?.dimensions.map(Number), [64, 151936]);
    assert.equal(tensors.get('token_embd.weight')?.ggmlType, 8);
    assert.equal(tensors.get('blk.1.attn_q.bias')?.ggmlType, 0);
    assert.deepEqual(tensors.get('blk.0.ffn_down.weight')?.dimensions.map(Number), [128, 64]);
    assert.equal(tensors.get('output.weight'), undefined);
  });

  test("llama architecture (tiny-qwen2 relabelled as an untied Llama with q/k/v bias): q/k rows permuted for llama.cpp's rope", async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const dir = mkdtempSync(join(workDir, 'llama-'));
    // NOTE: lm_head as a copy of the embedding computes what the tied model does, and exercises output.weight.
    const extra = zeroOutputBiases();
    const fixture = SafetensorsCheckpoint.open(MODEL_DIR);
    extra.set('lm_head.weight', fixture.read('model.embed_tokens.weight'));
    fixture.close();
    writeVariant(dir, { architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: true, tie_word_embeddings: false }, () => true, extra);
    const path = join(dir, 'model.gguf');
    exportGguf({ modelDir: dir, outputPath: path, outType: 'f32' });
    await checkAgainst(instance, path, fromReference(false), LOGPROB_TOLERANCE.f32, 'llama');
  });

  /**
   * The fixture relabelled as a Llama with q/k/v bias (which computes what the fixture does, see
   * the test above), changed by `patch` and `extra` tensors: exported as f32, its swiftlet outputs
   * must differ from `base` (default: transformers' on the plain fixture), and llama.cpp must match them.
   */
  async function checkLlamaVariant(
    t: TestContext,
    instance: Llama,
    label: string,
    patch: Json,
    { extra = new Map<string, TensorData>(), base = { expected: fromReference(false), label: 'the plain fixture' } } = {},
  ): Promise<Expected> {
    const dir = mkdtempSync(join(workDir, `${label.replace(/\W+/g, '-')}-`));
    const tensors = zeroOutputBiases();
    for (const [name, tensor] of extra) tensors.set(name, tensor);
    writeVariant(dir, { architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: true, ...patch }, () => true, tensors);
    const path = join(dir, 'model.gguf');
    exportGguf({ modelDir: dir, outputPath: path, outType: 'f32' });
    const expected = await fromSwiftlet(dir);
    t.diagnostic(assertChanged(expected, base.expected, base.label, LOGPROB_TOLERANCE.f32, label));
    await checkAgainst(instance, path, expected, LOGPROB_TOLERANCE.f32, label);
    return expected;
  }

  test('llama3 rope scaling as rope_freqs: llama.cpp agrees with swiftlet on the same checkpoint', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    // NOTE: a short original context so the rescaled frequencies matter within the fixture's prompts.
    const rope = { rope_type: 'llama3', rope_theta: 1e6, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    await checkLlamaVariant(t, instance, 'llama3 rope', { rope_parameters: rope });
  });

  test('linear rope scaling (older config layout: rope_theta + rope_scaling.type): llama.cpp agrees with swiftlet', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    // NOTE: config.ts reads rope_parameters before rope_scaling, so the fixture's rope_parameters
    // goes (undefined is dropped by JSON.stringify) and the older spelling is what gets parsed.
    // Every frequency is halved; pair 0 turns 1 radian a position, so this shows from position 1 on.
    await checkLlamaVariant(t, instance, 'linear rope', { rope_parameters: undefined, rope_theta: 1e6, rope_scaling: { type: 'linear', factor: 2.0 } });
  });

  test('yarn rope scaling (factor 4 from a 64-token original context; default, then an explicit attention_factor): llama.cpp agrees with swiftlet', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    // NOTE: yarn is static in transformers, swiftlet and llama.cpp alike: the same frequencies at
    // every position, whatever the sequence length; original_max_position_embeddings only picks
    // which rotary pairs are interpolated. With head_dim 16 and theta 1e6, 64 gives low = 0 and
    // high = 2: pair 0 keeps its frequency, pair 1 is half interpolated, pairs 2..7 divided by 4,
    // and the fixture's prompts (up to 46 positions) turn pair 1 far enough for that to matter.
    // The attention factor 0.1 ln 4 + 1 multiplies cos and sin (so every q.k by its square) in
    // all three; llama.cpp applies it whenever the scaling type is yarn. max_position_embeddings
    // stays 4096: transformers 4.x until huggingface/transformers#40320 (Aug 2025) replaced the
    // factor by max_position_embeddings / original_max_position_embeddings (64 here) whenever the
    // latter was given; transformers 5, swiftlet and llama.cpp use the configured factor.
    const rope = { rope_type: 'yarn', rope_theta: 1e6, factor: 4.0, original_max_position_embeddings: 64 };
    const yarn = await checkLlamaVariant(t, instance, 'yarn rope', { rope_parameters: rope });
    // NOTE: an explicit attention_factor goes to llama.cpp as rope.scaling.attn_factor, a ratio to
    // the default (model-metadata.ts); it must change the outputs of the default yarn model.
    await checkLlamaVariant(t, instance, 'yarn attention_factor', { rope_parameters: { ...rope, attention_factor: 1.5 } }, { base: { expected: yarn, label: 'default yarn' } });
  });

  test('llama MLP biases (mlp_bias: true, random gate/up/down biases): llama.cpp agrees with swiftlet', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    // NOTE: +-0.5 is about the size of the gate/up pre-activations (rms-normed input, weights of rms 0.125).
    const biases = new Map<string, TensorData>();
    for (let layer = 0; layer < 2; layer++) {
      for (const [which, length] of [['gate', 128], ['up', 128], ['down', 64]] as const) {
        biases.set(`model.layers.${layer}.mlp.${which}_proj.bias`, f32Tensor(randomVector(length, 1000 * layer + length + which.length, 0.5)));
      }
    }
    await checkLlamaVariant(t, instance, 'mlp bias', { mlp_bias: true }, { extra: biases });
  });

  test('qwen3 architecture (q/k norm, no bias): llama.cpp agrees with swiftlet on the same checkpoint', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const dir = mkdtempSync(join(workDir, 'qwen3-'));
    const norms = new Map<string, TensorData>();
    for (let layer = 0; layer < 2; layer++) {
      for (const which of ['q', 'k']) {
        const phase = layer * 2 + (which === 'q' ? 0 : 1);
        norms.set(`model.layers.${layer}.self_attn.${which}_norm.weight`, f32Tensor(Float32Array.from({ length: 16 }, (_, i) => 1 + 0.5 * Math.sin(i + phase))));
      }
    }
    writeVariant(dir, { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', head_dim: 16, attention_bias: false }, (name) => !/_proj\.bias$/.test(name), norms);
    const path = join(dir, 'model.gguf');
    exportGguf({ modelDir: dir, outputPath: path, outType: 'f32' });
    await checkAgainst(instance, path, await fromSwiftlet(dir), LOGPROB_TOLERANCE.f32, 'qwen3');
  });
  /**
   * The reference's mixed tokenizer corpus through llama.cpp's tokenizer of `ggufPath`, against
   * swiftlet's ids for the same text (which family-tokenizers.test.ts checks against the reference).
   * `prepare` gives the text llama.cpp gets and whether it parses special-token text, or
   * undefined for a case llama.cpp is known to split otherwise (the caller says why).
   */
  async function checkTokenization(
    instance: Llama,
    ggufPath: string,
    fixture: string,
    prepare: (text: string) => { text: string; parseSpecial: boolean } | undefined,
  ): Promise<number> {
    const tokenizer = await loadTokenizer(join(fixtureDir, fixture));
    const model = await instance.loadModel({ modelPath: ggufPath, vocabOnly: true });
    let checked = 0;
    try {
      for (const { text } of (familyReference(fixture) as unknown as { tokenizer: { encode: { text: string }[] } }).tokenizer.encode) {
        const input = prepare(text);
        if (!input) continue;
        const want = tokenizer.encode(input.text, { addSpecialTokens: false });
        assert.deepEqual([...model.tokenize(input.text, input.parseSpecial)], want, `${fixture}: ${JSON.stringify(input.text)}`);
        checked++;
      }
    } finally {
      await model.dispose();
    }
    return checked;
  }

  test("tiny-qwen1 (Qwen v1, llama.cpp's qwen) as f32: transformers' greedy tokens and logprobs within seq_length", async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const path = join(workDir, 'tiny-qwen1.gguf');
    exportGguf({ modelDir: join(fixtureDir, 'tiny-qwen1'), outputPath: path, outType: 'f32' });
    // NOTE: the raw prompts with their outputs and the 7- and 33-token sequences stay within seq_length (64),
    // where dynamic NTK and log-n scaling (which llama.cpp's qwen lacks) change nothing.
    const expected = fromReference(false, familyReference('tiny-qwen1'));
    expected.teacher = fromReference(true, familyReference('tiny-qwen1')).teacher;
    await checkAgainst(instance, path, expected, LOGPROB_TOLERANCE.f32, 'qwen1');
  });

  test('tiny-qwen1: llama.cpp tokenizes the mixed corpus to swiftlet\'s ids (merges derived from the tiktoken ranks)', async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const path = join(workDir, 'tiny-qwen1-vocab.gguf');
    exportGguf({ modelDir: join(fixtureDir, 'tiny-qwen1'), outputPath: path, outType: 'q8_0' });
    // NOTE: two differences of llama.cpp's, not of the file: it does not NFC-normalise (tokenization_qwen.py does), so
    // it gets the normalised text; and it retypes vocabulary entries that look like control tokens (`</s>`, a plain
    // BPE token of Qwen's) as control, so special-token text is parsed only where Qwen's own special tokens occur.
    const checked = await checkTokenization(instance, path, 'tiny-qwen1', (text) => ({
      text: text.normalize('NFC'),
      parseSpecial: QWEN_SPECIAL_TOKENS.some((token) => text.includes(token)),
    }));
    assert.ok(checked >= 20, `${checked} texts`);
  });

  test("tiny-chatglm3 itself is refused (llama.cpp's chatglm needs heads x kv_channels = hidden_size)", () => {
    assert.throws(
      () => exportGguf({ modelDir: join(fixtureDir, 'tiny-chatglm3'), outputPath: join(workDir, 'refused.gguf'), outType: 'f32' }),
      /"chatglm" architecture has no query width \(4 heads x 8\) other than hidden_size 16/,
    );
  });

  test("tiny-chatglm3 with 2 of its 4 query heads (q width = hidden_size) as f32: llama.cpp's chatglm agrees with swiftlet, and tokenizes the corpus to swiftlet's ids", async (t) => {
    const instance = ready(t);
    if (!instance) return;
    const fixture = join(fixtureDir, 'tiny-chatglm3');
    // NOTE: query_key_value rows are q (4 heads of 8), k and v (2 groups of 8 each); dense takes the 32 q channels.
    const source = SafetensorsCheckpoint.open(fixture);
    const halved = new Map<string, TensorData>();
    try {
      for (let layer = 0; layer < 2; layer++) {
        const prefix = `transformer.encoder.layers.${layer}.self_attention.`;
        for (const name of [`${prefix}query_key_value.weight`, `${prefix}query_key_value.bias`]) {
          halved.set(name, keepRows(source.read(name), [[0, 16], [32, 64]]));
        }
        halved.set(`${prefix}dense.weight`, keepColumns(source.read(`${prefix}dense.weight`), 16));
      }
    } finally {
      source.close();
    }
    const dir = writeVariant(mkdtempSync(join(workDir, 'chatglm3-')), { num_attention_heads: 2 }, (name) => !halved.has(name), halved, fixture);
    const path = join(dir, 'model.gguf');
    exportGguf({ modelDir: dir, outputPath: path, outType: 'f32' });
    await checkAgainst(instance, path, await fromSwiftlet(dir, familyReference('tiny-chatglm3')), LOGPROB_TOLERANCE.f32, 'chatglm3');
    // NOTE: llama.cpp's SentencePiece merges look every merged text up among all tokens, added ones
    // included, so in "[gMASK]sop" as text the letters "sop" become the control token sop (64792),
    // which tokenization_chatglm.py never does. llama.cpp's own converter writes the same vocabulary.
    const checked = await checkTokenization(instance, path, 'tiny-chatglm3', (text) => (text.includes('[gMASK]sop') ? undefined : { text, parseSpecial: false }));
    assert.ok(checked >= 19, `${checked} texts`);
  });
});
