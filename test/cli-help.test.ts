/**
 * Every command's --help as the CLI prints it: each flag its parser accepts (name and aliases)
 * is listed and each listed one parses; a flag several commands take reads the same in each
 * (unless it means something else there); defaults are shown one way; SWIFT's underscore
 * spellings are mentioned once; --help comes last.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFlags, type FlagSpecs } from '../src/cli/args.js';
import { repoRoot } from './helpers/paths.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

const COMMAND_FLAGS: Record<string, () => Promise<FlagSpecs>> = {
  deploy: async () => (await import('../src/cli/commands/deploy.js')).FLAGS,
  'app-ui': async () => (await import('../src/cli/commands/app-ui.js')).FLAGS,
  bench: async () => (await import('../src/cli/commands/bench.js')).FLAGS,
  export: async () => (await import('../src/cli/commands/export.js')).FLAGS,
  infer: async () => (await import('../src/cli/commands/infer.js')).FLAGS,
  models: async () => (await import('../src/cli/commands/models.js')).FLAGS,
  'run-batch': async () => (await import('../src/cli/commands/run-batch.js')).FLAGS,
};

/** Flags whose meaning differs by command, so their descriptions may too. */
const MEANS_SOMETHING_ELSE: ReadonlySet<string> = new Set([
  'adapter', // infer: a served adapter's name; export: the adapter directory to merge
  'adapters', // deploy: name=PATH list; infer: the one adapter to answer with; export: the adapter to merge
  'api-key', // bench: the key it sends to a server
  'dataset', // bench: prompt lengths; infer: the JSONL to answer; export: calibration data
  'dtype', // bench: random weights; export: the merged checkpoint's
  'merge-lora', // infer: SWIFT's flag, accepted; export: the merge itself
  'model', // export: a checkpoint directory only
  'output', // infer: --dataset results; export: the file or directory written
  'seed', // bench: prompts and weights; infer: sampling
  'temperature', // bench: only its throughput scenarios
]);

function swiftlet(args: string[]): string {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** A help's flags: each entry's first line (the spellings) and its description. */
function listedFlags(help: string): { spellings: string; description: string }[] {
  const lines = help.split('\n');
  return lines.flatMap((line, i) => (/^  -/.test(line) ? [{ spellings: line.trim(), description: (lines[i + 1] ?? '').trim() }] : []));
}

test('the commands checked here are those swiftlet --help lists', () => {
  const listed = [...swiftlet(['--help']).matchAll(/^ {2}(\S+) {2,}/gm)].map((match) => match[1]);
  assert.deepEqual(listed.sort(), Object.keys(COMMAND_FLAGS).sort());
});

for (const [command, flagsOf] of Object.entries(COMMAND_FLAGS)) {
  test(`swiftlet ${command} --help lists every flag its parser accepts, and each listed one parses`, async () => {
    const specs = await flagsOf();
    const help = swiftlet([command, '--help']);
    const entries = listedFlags(help);
    for (const [name, spec] of Object.entries(specs)) {
      const entry = entries.find(({ spellings }) => spellings.split(/[ ,]/)[0] === `--${name}`);
      assert.ok(entry, `--${name} is missing from the help`);
      for (const alias of spec.aliases ?? []) assert.match(entry.spellings, new RegExp(`[ ,]${alias}[,)]`), `--${name}'s ${alias}`);
      if (spec.kind === 'boolean' && spec.default === true) assert.match(entry.spellings, new RegExp(`, --no-${name}\\b`), `--no-${name}`);
    }
    for (const { spellings } of entries) {
      for (const word of spellings.match(/(?<=^|[ ,(])--?[a-z][\w-]*/g) ?? []) {
        assert.doesNotThrow(() => parseFlags([`${word}=1`], specs), `${word} is listed but refused`);
      }
    }
    assert.equal(entries[entries.length - 1]?.spellings, '--help (also -h)', '--help comes last');
    assert.equal(help.split("SWIFT's spelling with underscores").length - 1, 1, 'the underscore spellings are mentioned once');
    assert.doesNotMatch(help, /\(default:|; default:|\(CPU default/, 'defaults are shown as [default: ...]');
    assert.doesNotMatch(help, /SWIFT's spelling:/, "SWIFT's own flags are introduced the same way");
  });
}

test('a flag several commands take reads the same in each help', async () => {
  const seen = new Map<string, { command: string; text: string }>();
  for (const command of Object.keys(COMMAND_FLAGS)) {
    for (const { spellings, description } of listedFlags(swiftlet([command, '--help']))) {
      const name = spellings.split(/[ ,]/)[0] as string;
      if (MEANS_SOMETHING_ELSE.has(name.slice(2))) continue;
      // NOTE: a default may differ by command (deploy's port 8000, app-ui's 7860); the words may not.
      const text = `${spellings} :: ${description.replace(/ \[default: [^\]]*\]$/, '')}`;
      const first = seen.get(name);
      if (first) assert.equal(text, first.text, `${name} in ${command} and ${first.command}`);
      else seen.set(name, { command, text });
    }
  }
});
