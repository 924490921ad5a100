/**
 * What structured outputs cost per engine step: N sequences decoding at once through the real
 * engine and runner, once free (temperature 1, EOS ignored) and once under a JSON schema
 * (temperature 1). A step's host gap is the time from one execute() settling to the next call:
 * postprocess, schedule, batch building and, constrained, the grammar masks (xgrammar, on the JS
 * thread, before the step is submitted) and feeding the sampled tokens back. The masks' cost is
 * the constrained gap less the free one, over steps where all N sequences decode.
 *   node dist/bench/structured-mask.js [--model DIR] [--device cpu|cuda] [--seqs 32] [--max-tokens 160] [--repeats 3]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import type { StructuredOutputSpec } from '../src/engine/structured/spec.js';
import { ModelHost } from '../src/host/model-host.js';
import type { StepBatch, StepOutput } from '../src/runtime/types.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
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
  executeMs: number;
  /** From the previous execute() settling to this call. */
  gapMs: number;
}

/** Times every execute() of the host's runner; a step counts when all numSeqs sequences decode in it. */
function timeSteps(host: ModelHost): { steps: StepTiming[]; stop: () => void } {
  const runner = host.runner;
  const execute = runner.execute.bind(runner);
  const steps: StepTiming[] = [];
  let lastEnd: number | null = null;
  runner.execute = async (batch: StepBatch): Promise<StepOutput> => {
    const start = performance.now();
    const output = await execute(batch);
    const end = performance.now();
    if (lastEnd !== null && batch.numSeqs === numSeqs && batch.numTokens === numSeqs) steps.push({ executeMs: end - start, gapMs: start - lastEnd });
    lastEnd = end;
    return output;
  };
  return { steps, stop: () => void (runner.execute = execute) };
}

async function run(host: ModelHost, spec: StructuredOutputSpec | null, repeat: number): Promise<StepTiming[]> {
  const promptTokenIds = host.tokenizer.encode('Here is a person as JSON:', { addSpecialTokens: false });
  const timing = timeSteps(host);
  await Promise.all(
    Array.from({ length: numSeqs }, async (_, i) => {
      const params = new SamplingParams({ temperature: 1, seed: repeat * 1000 + i, maxTokens, ignoreEos: spec === null, structuredOutput: spec });
      for await (const _delta of host.engine.add({ requestId: `${spec === null ? 'free' : 'json'}-${repeat}-${i}`, promptTokenIds, params }));
    }),
  );
  timing.stop();
  return timing.steps;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

const { flags } = parseFlags(['--model', values.model, '--device', values.device, '--max-num-seqs', String(numSeqs)], MODEL_FLAGS);
const host = await ModelHost.load(modelOptionsFrom(flags));
try {
  await host.engine.compileStructuredOutput(PERSON);
  const { vocabSize, hiddenSize, numLayers } = host.spec;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${values.model} on ${host.runner.device}: vocab ${vocabSize}, hidden ${hiddenSize}, ${numLayers} layers; ${numSeqs} sequences, max_tokens ${maxTokens}, medians over steps where all ${numSeqs} decode`);
  console.log('| run | steps | execute ms | host gap ms | mask cost ms | mask share of step |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (let r = 0; r < numRepeats; r++) {
    const free = await run(host, null, r);
    const json = await run(host, PERSON, r);
    const freeGap = median(free.map((s) => s.gapMs));
    const jsonGap = median(json.map((s) => s.gapMs));
    const jsonExecute = median(json.map((s) => s.executeMs));
    const cost = jsonGap - freeGap;
    console.log(`| free ${r + 1} | ${free.length} | ${median(free.map((s) => s.executeMs)).toFixed(2)} | ${freeGap.toFixed(2)} | | |`);
    console.log(`| json_schema ${r + 1} | ${json.length} | ${jsonExecute.toFixed(2)} | ${jsonGap.toFixed(2)} | ${cost.toFixed(2)} | ${((100 * cost) / (jsonExecute + jsonGap)).toFixed(1)}% |`);
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await host.close();
}
