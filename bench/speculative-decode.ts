/**
 * Prompt-lookup speculation against plain decoding at batch 1 on an input-grounded task: the
 * model is asked to repeat, edit or summarise a given text (chat template), greedy. Two hosts
 * of the same model (one with --speculative-config), runs interleaved so machine noise hits
 * both; checks that every output is identical and prints tok/s, the ratio and the acceptance.
 *   node dist/bench/speculative-decode.js [model flags: --model DIR --device cpu|cuda ...]
 *     [--speculative-config JSON] [--max-tokens 128] [--rounds 3]
 * EOS is ignored so every answer is --max-tokens long (the demo model's answers are one line).
 */
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';

const BENCH_FLAGS = {
  ...MODEL_FLAGS,
  'speculative-config': {
    kind: 'string',
    default: '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":3,"prompt_lookup_min":1}',
    help: 'the speculating host\'s config',
  },
  'max-tokens': { kind: 'number', default: 128, help: 'tokens per answer' },
  rounds: { kind: 'number', default: 3, help: 'interleaved rounds per host (the best round counts)' },
} as const;

const TEXT =
  'The capital of Zhejiang is Hangzhou. The capital of Sichuan is Chengdu. The capital of Jiangsu is Nanjing. ' +
  'The capital of Guangdong is Guangzhou. The capital of Hubei is Wuhan. The capital of Hunan is Changsha.';
const TASKS = [`Repeat this text exactly: ${TEXT}`, `Summarise this text: ${TEXT}`, `Fix the spelling in this text: ${TEXT.replace('Chengdu', 'Chengdoo')}`];

interface Round {
  seconds: number;
  outputTokens: number;
  texts: string[];
  steps: number;
  drafts: number;
  accepted: number;
}

async function round(host: ModelHost, prompts: number[][], maxTokens: number, tag: string): Promise<Round> {
  const before = host.engine.stats();
  const texts: string[] = [];
  let outputTokens = 0;
  const start = performance.now();
  for (const [i, promptTokenIds] of prompts.entries()) {
    let text = '';
    const params = new SamplingParams({ temperature: 0, maxTokens, ignoreEos: true });
    for await (const delta of host.engine.add({ requestId: `${tag}-${i}`, promptTokenIds, params })) {
      text += delta.outputs[0]?.text ?? '';
      outputTokens += delta.outputs[0]?.tokenIds.length ?? 0;
    }
    texts.push(text);
  }
  const seconds = (performance.now() - start) / 1000;
  const after = host.engine.stats();
  return {
    seconds,
    outputTokens,
    texts,
    steps: after.numStepsTotal - before.numStepsTotal,
    drafts: after.numDraftTokensTotal - before.numDraftTokensTotal,
    accepted: after.numAcceptedDraftTokensTotal - before.numAcceptedDraftTokensTotal,
  };
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), BENCH_FLAGS);
  const maxTokens = flags['max-tokens'] as number;
  const rounds = flags['rounds'] as number;
  // NOTE: without prefix caching, so every round prefills its prompts the same way: a cached prompt
  // takes other kernels, which on bf16 CUDA may flip a near-tie and fail the rounds' equality check.
  const options = { ...flags, 'enable-prefix-caching': false };
  const plain = await ModelHost.load(modelOptionsFrom({ ...options, 'speculative-config': undefined }));
  const speculative = await ModelHost.load(modelOptionsFrom(options));
  try {
    const prompts = TASKS.map((task) =>
      plain.tokenizer.encode(plain.chatTemplate.render([{ role: 'user', content: task }], { addGenerationPrompt: true }), { addSpecialTokens: false }),
    );
    // Warm-up: page in weights, plan GEMMs.
    await round(plain, prompts.slice(0, 1), 8, 'warm');
    await round(speculative, prompts.slice(0, 1), 8, 'warm');
    const best = { plain: null as Round | null, speculative: null as Round | null };
    for (let r = 0; r < rounds; r++) {
      for (const [name, host] of [['plain', plain], ['speculative', speculative]] as const) {
        const result = await round(host, prompts, maxTokens, `${name}-${r}`);
        const previous = best[name];
        if (previous !== null && previous.texts.join('\u0000') !== result.texts.join('\u0000')) throw new Error(`${name}: round ${r} answered differently`);
        if (previous === null || result.seconds < previous.seconds) best[name] = result;
      }
    }
    const p = best.plain as Round;
    const s = best.speculative as Round;
    const isEqual = p.texts.every((text, i) => text === s.texts[i]);
    const rate = (x: Round) => x.outputTokens / x.seconds;
    console.log(`# ${plain.modelDir} on ${plain.runner.device}, ${TASKS.length} grounded prompts at batch 1, ${maxTokens} tokens each, greedy, best of ${rounds}`);
    console.log(`# ${flags['speculative-config'] as string}`);
    console.log('| decoding | tok/s | steps | drafts accepted | tokens per step |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(`| plain | ${rate(p).toFixed(1)} | ${p.steps} | - | ${(p.outputTokens / p.steps).toFixed(2)} |`);
    console.log(`| prompt lookup | ${rate(s).toFixed(1)} | ${s.steps} | ${s.accepted} / ${s.drafts} (${((100 * s.accepted) / Math.max(1, s.drafts)).toFixed(0)}%) | ${(s.outputTokens / s.steps).toFixed(2)} |`);
    console.log(`speedup ${(rate(s) / rate(p)).toFixed(2)}x; outputs ${isEqual ? 'identical' : 'DIFFERENT'}`);
    if (!isEqual) process.exitCode = 1;
  } finally {
    plain.dispose();
    speculative.dispose();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
