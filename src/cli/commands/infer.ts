/**
 * `swiftlet infer --model M`: an interactive chat in the terminal (multi-turn, streamed), or
 * with `--dataset FILE.jsonl` every line of a dataset answered in one batch, results to JSONL.
 * SWIFT's spellings work too (`--max_new_tokens`, `--val_dataset`, `--result_path`, `--adapters`).
 */
import { existsSync } from 'node:fs';
import { helpText, parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { modelForAdapters } from '../adapter-base-model.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../model-flags.js';
import { fileRunExitStatus } from '../exit-status.js';
import { ModelHost } from '../../host/model-host.js';
import { Engine } from '../../llm/engine.js';
import type { RequestConfig } from '../../llm/types.js';
import { CHAT_HELP, ChatSession } from '../infer/chat-session.js';
import { defaultOutputPath, runDataset } from '../infer/dataset.js';

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  system: { kind: 'string', help: 'system prompt', defaultText: "the chat template's" },
  'max-tokens': { kind: 'number', aliases: ['--max-new-tokens'], help: 'longest answer in tokens', defaultText: "generation_config's, else what the context leaves" },
  temperature: { kind: 'number', help: 'sampling temperature (0: greedy)', defaultText: "generation_config's, else 1" },
  'top-p': { kind: 'number', help: 'nucleus sampling: the smallest set of tokens whose probability reaches this', defaultText: "generation_config's, else 1" },
  'top-k': { kind: 'number', help: 'sample among the k likeliest tokens (0: off)' },
  'min-p': { kind: 'number', help: 'drop tokens below this fraction of the likeliest one' },
  'repetition-penalty': { kind: 'number', help: 'vLLM/transformers repetition penalty (1: off)' },
  'presence-penalty': { kind: 'number', help: 'OpenAI presence penalty' },
  'frequency-penalty': { kind: 'number', help: 'OpenAI frequency penalty' },
  seed: { kind: 'number', help: 'sampling seed: the same seed gives the same answers' },
  stop: { kind: 'list', help: 'strings that end an answer' },
  adapter: { kind: 'string', help: 'answer with this --lora-modules adapter', defaultText: 'the base model' },
  adapters: { kind: 'string', aliases: ['--ckpt-dir'], help: "SWIFT's: load the PEFT adapter at PATH and answer with it" },
  'merge-lora': { kind: 'boolean', help: "SWIFT's: accepted; the adapter is applied at run time, which answers as the merged model would" },
  stream: { kind: 'boolean', default: true, help: 'print answers as they are generated' },
  dataset: { kind: 'string', aliases: ['--val-dataset'], help: 'answer every line of this JSONL ({messages} or {query, history, system}) instead of chatting' },
  output: { kind: 'string', aliases: ['-o', '--result-path'], help: 'where --dataset results go', defaultText: 'IN.infer.jsonl beside the input' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...MODEL_FLAGS,
};

const SUMMARY = [
  'Chat with a model in the terminal, or answer a dataset in one batch.',
  '',
  CHAT_HELP,
  '',
  'With --dataset, results are written as JSONL: each input line plus "response" and the',
  'updated "history" (for {query, history, system} lines) or "messages"; a progress bar goes to stderr.',
].join('\n');

function requestConfigFrom(flags: ParsedFlags): RequestConfig {
  const config: RequestConfig = {};
  const number = (name: string) => flags[name] as number | undefined;
  if (number('max-tokens') !== undefined) config.maxTokens = number('max-tokens');
  if (number('temperature') !== undefined) config.temperature = number('temperature');
  if (number('top-p') !== undefined) config.topP = number('top-p');
  if (number('top-k') !== undefined) config.topK = number('top-k');
  if (number('min-p') !== undefined) config.minP = number('min-p');
  if (number('repetition-penalty') !== undefined) config.repetitionPenalty = number('repetition-penalty');
  if (number('presence-penalty') !== undefined) config.presencePenalty = number('presence-penalty');
  if (number('frequency-penalty') !== undefined) config.frequencyPenalty = number('frequency-penalty');
  if (number('seed') !== undefined) config.seed = number('seed');
  const stop = flags['stop'] as string[] | undefined;
  if (stop !== undefined) config.stop = stop;
  return config;
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('infer', SUMMARY, FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]} (flags only; see --help)`);
  const options = modelOptionsFrom(flags);
  const config = requestConfigFrom(flags);
  let adapter = flags['adapter'] as string | undefined;
  const adapterPath = flags['adapters'] as string | undefined;
  if (adapterPath !== undefined) {
    if (adapter !== undefined) throw new UsageError('give --adapter NAME or --adapters PATH, not both');
    adapter = 'adapter';
    options.loraModules.push({ name: adapter, path: adapterPath });
  }
  if (adapter !== undefined) {
    if (!options.loraModules.some((module) => module.name === adapter)) {
      throw new UsageError(`--adapter ${adapter} is not among --lora-modules (${options.loraModules.map((m) => m.name).join(', ') || 'none given'})`);
    }
    config.model = adapter;
  }
  const datasetPath = flags['dataset'] as string | undefined;
  if (datasetPath === undefined && flags['output'] !== undefined) throw new UsageError('--output goes with --dataset');
  if (datasetPath !== undefined && !existsSync(datasetPath)) throw new UsageError(`--dataset ${datasetPath}: no such file`);
  const system = flags['system'] as string | undefined;

  const log = (message: string) => process.stderr.write(`${message}\n`);
  modelForAdapters(options, log);
  const host = await ModelHost.load({ ...options, maxWaiting: Number.POSITIVE_INFINITY }, log);
  const engine = new Engine(host);
  try {
    if (datasetPath !== undefined) {
      const outputPath = (flags['output'] as string | undefined) ?? defaultOutputPath(datasetPath);
      const summary = await runDataset({ backend: engine, config, inputPath: datasetPath, outputPath, system, progress: process.stderr });
      log(
        `infer: ${summary.numLines} lines (${summary.numFailed} failed) in ${summary.seconds.toFixed(2)} s, ` +
          `${summary.numCompletionTokens} tokens generated (${(summary.numCompletionTokens / Math.max(summary.seconds, 1e-9)).toFixed(1)} tok/s); results in ${outputPath}`,
      );
      return fileRunExitStatus({ numFailed: summary.numFailed, interruptedBy: null });
    }
    log(`chatting with ${adapter ?? host.servedModelName}${system !== undefined ? ` (system: ${system})` : ''}`);
    log(CHAT_HELP);
    const session = new ChatSession({
      backend: engine,
      config,
      system,
      stream: flags['stream'] as boolean,
      input: process.stdin,
      output: process.stdout,
      notices: process.stderr,
    });
    return await session.run();
  } finally {
    await engine.close();
  }
}
