#!/usr/bin/env node
/** `swiftlet <command>`: one file per command under commands/, loaded on demand. */
import { UsageError } from './args.js';
import { closestWord } from './did-you-mean.js';
import { SWIFTLET_VERSION } from '../server/version.js';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  deploy: { summary: 'serve a model and its LoRA adapters over an OpenAI-compatible HTTP API', load: () => import('./commands/deploy.js') },
  'app-ui': { summary: 'chat with a model and its LoRA adapters in a local web page', load: () => import('./commands/app-ui.js') },
  bench: { summary: 'offline engine benchmarks (throughput, sequential, ttft)', load: () => import('./commands/bench.js') },
  export: { summary: 'write a checkpoint in another format (GGUF for llama.cpp)', load: () => import('./commands/export.js') },
  infer: { summary: 'chat with a model in the terminal, or answer a JSONL dataset in one batch', load: () => import('./commands/infer.js') },
  models: { summary: 'list the model types --model accepts and the models in the local cache', load: () => import('./commands/models.js') },
  'run-batch': { summary: 'answer an OpenAI Batch file (JSONL) with a model', load: () => import('./commands/run-batch.js') },
};

function usage(): string {
  const lines = ['usage: swiftlet <command> [flags]   (swiftlet <command> --help for its flags; swiftlet --version)', '', 'commands:'];
  for (const [name, command] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${command.summary}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`swiftlet ${SWIFTLET_VERSION}`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const suggestion = closestWord(name.replace(/^-+/, ''), Object.keys(COMMANDS));
    const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`;
    console.error(`swiftlet: unknown command '${name}'${hint}\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`swiftlet ${name}: ${error.message}`);
      return 2;
    }
    console.error(`swiftlet ${name}: ${(error as Error).message}`);
    if (process.env['SWIFTLET_DEBUG']) console.error(error);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
