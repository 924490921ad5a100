/**
 * What structured outputs cost per engine step: N sequences decoding at once through the real
 * engine and runner, once free (temperature 1, EOS ignored) and once under a JSON schema
 * (temperature 1). A step's period is the time from one step's start (execute() called) to the
 * next one's: the runner's step, in which the grammar masks are filled while the forward pass
 * runs, then postprocess (the sampled tokens fed to the grammars), schedule and batch building.
 * The masks' visible cost is the constrained period less the free one, medians over steps where
 * all N sequences decode. --random-shape swaps the model's weights for a named random shape's
 * (bench's shapes, e.g. qwen2.5-7b) and keeps --model's tokenizer for the grammar's vocabulary.
 * --early-masks fills the masks before each step instead (as before the overlap), for comparison.
 *   node dist/bench/structured-mask.js [--model DIR] [--random-shape NAME] [--device cpu|cuda] [--seqs 32] [--max-tokens 160] [--repeats 3] [--early-masks] [--num-threads N]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import type { StructuredOutputSpec } from '../src/engine/structured/spec.js';
import { ModelHost } from '../src/host/model-host.js';
import type { LLMEngine } from '../src/engine/engine.js';
import { engineFor, randomEngineWeights, runnerFor } from '../src/host/engine-setup.js';
import { engineTokenizer } from '../src/host/model-host.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import type { FillTokenBitmask, ModelRunner, StepBatch, StepOutput } from '../src/runtime/types.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    'random-shape': { type: 'string' },
    'early-masks': { type: 'boolean', default: false },
    'num-threads': { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    seqs: { type: 'string', default: '32' },
    'max-tokens': { type: 'string', default: '160' },
    repeats: { type: 'string', default: '3' },
  },
});
const numSeqs = Number(values.seqs);
const maxTokens = Number(values['max-tokens']);
const numRepeats = Number(values.repeats);

const PERSON: StructuredOutputSpec = {
  kind: 'json_schema',
  schema: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer' },
      email: { type: 'string' },
      tags: { type: 'array', items: { type: 'string' } },
      address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string' } }, required: ['city', 'zip'] },
    },
    required: ['name', 'age', 'email', 'tags', 'address'],
  },
};

interface StepTiming {
  /** The runner's step, masks included when they are filled while the forward pass runs. */
  executeMs: number;
  /** From this step's start to the next one's. */
  periodMs: number;
}

/** What the bench drives: an engine, its runner and the prompt's tokens. */
interface Bench {
  engine: LLMEngine;
  runner: ModelRunner;
  promptTokenIds: number[];
  close: () => Promise<void>;
}

/** Times every step of the runner (with or without late masks); a step counts when all numSeqs sequences decode in it. */
function timeSteps(runner: ModelRunner): { steps: StepTiming[]; stop: () => void } {
  const { execute, executeWithLateBitmask } = runner;
  const steps: StepTiming[] = [];
  let last: { start: number; executeMs: number; counts: boolean } | null = null;
  const timed = async (batch: StepBatch, step: () => Promise<StepOutput>): Promise<StepOutput> => {
    const start = performance.now();
    if (last?.counts) steps.push({ executeMs: last.executeMs, periodMs: start - last.start });
    const output = await step();
    last = { start, executeMs: performance.now() - start, counts: batch.numSeqs === numSeqs && batch.numTokens === numSeqs };
    return output;
  };
  runner.execute = (batch: StepBatch) => timed(batch, () => execute.call(runner, batch));
  if (executeWithLateBitmask) {
    runner.executeWithLateBitmask = (batch: StepBatch, fillMask: FillTokenBitmask) => timed(batch, () => executeWithLateBitmask.call(runner, batch, fillMask));
  }
  return {
    steps,
    stop: () => {
      runner.execute = execute;
      runner.executeWithLateBitmask = executeWithLateBitmask;
    },
  };
}

async function run(bench: Bench, spec: StructuredOutputSpec | null, repeat: number): Promise<StepTiming[]> {
  const timing = timeSteps(bench.runner);
  await Promise.all(
    Array.from({ length: numSeqs }, async (_, i) => {
      const params = new SamplingParams({ temperature: 1, seed: repeat * 1000 + i, maxTokens, ignoreEos: spec === null, structuredOutput: spec });
      for await (const _delta of bench.engine.add({ requestId: `${spec === null ? 'free' : 'json'}-${repeat}-${i}`, promptTokenIds: bench.promptTokenIds, params }));
    }),
  );
  timing.stop();
  return timing.steps;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

const PROMPT = 'Here is a person as JSON:';

async function loadBench(): Promise<Bench> {
  const threads = values['num-threads'] === undefined ? [] : ['--num-threads', values['num-threads']];
  const { flags } = parseFlags(['--model', values.model, '--device', values.device, '--max-num-seqs', String(numSeqs), ...threads], MODEL_FLAGS);
  const options = modelOptionsFrom(flags);
  const shape = values['random-shape'];
  if (shape === undefined) {
    const host = await ModelHost.load(options);
    return { engine: host.engine, runner: host.runner, promptTokenIds: host.tokenizer.encode(PROMPT, { addSpecialTokens: false }), close: () => host.close() };
  }
  const tokenizer = await loadTokenizer(values.model);
  const runner = await runnerFor(randomEngineWeights({ shape, dtype: 'bfloat16', seed: 0 }), options);
  const engine = engineFor(runner, engineTokenizer(tokenizer, values.model), options);
  return { engine, runner, promptTokenIds: tokenizer.encode(PROMPT, { addSpecialTokens: false }), close: async () => runner.dispose() };
}

const bench = await loadBench();
// NOTE: without the runner's late path the engine fills the masks before it calls execute().
if (values['early-masks']) bench.runner.executeWithLateBitmask = undefined;
try {
  await bench.engine.compileStructuredOutput(PERSON);
  const { vocabSize, hiddenSize, numLayers } = bench.runner.spec;
  const weights = values['random-shape'] === undefined ? values.model : `random ${values['random-shape']} (tokenizer of ${values.model})`;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const masks = bench.runner.executeWithLateBitmask === undefined ? 'masks filled before each step' : 'masks filled while the forward pass runs';
  console.log(`${weights} on ${bench.runner.device}, ${masks}: vocab ${vocabSize}, hidden ${hiddenSize}, ${numLayers} layers; ${numSeqs} sequences, max_tokens ${maxTokens}, medians over steps where all ${numSeqs} decode`);
  console.log('| run | steps | execute ms | step period ms | visible mask cost ms | share of step |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (let r = 0; r < numRepeats; r++) {
    const free = await run(bench, null, r);
    const json = await run(bench, PERSON, r);
    const freePeriod = median(free.map((s) => s.periodMs));
    const jsonPeriod = median(json.map((s) => s.periodMs));
    const cost = jsonPeriod - freePeriod;
    console.log(`| free ${r + 1} | ${free.length} | ${median(free.map((s) => s.executeMs)).toFixed(2)} | ${freePeriod.toFixed(2)} | | |`);
    console.log(`| json_schema ${r + 1} | ${json.length} | ${median(json.map((s) => s.executeMs)).toFixed(2)} | ${jsonPeriod.toFixed(2)} | ${cost.toFixed(2)} | ${((100 * cost) / jsonPeriod).toFixed(1)}% |`);
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await bench.close();
}
