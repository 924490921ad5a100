/**
 * `swiftlet models [--json]`: the named model types `--model` accepts, with their hub ids, and
 * which of them (and which other hub models) are already in the local cache.
 */
import { relative } from 'node:path';
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { cacheRoot, cachedModelDir, listCachedModels } from '../../model/hub/cache.js';
import { demoModelDir, MODEL_TYPES, modelTypeOfHubId } from '../../model/registry.js';

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  json: { kind: 'boolean', help: 'print JSON (one object per model type, and the other cached models)' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
};

interface Row {
  name: string;
  family: string;
  hubId: string | null;
  modelScopeId: string | null;
  architecture: string;
  template: string;
  params: string;
  gated: boolean;
  notes: string | null;
  /** Where it is on this machine, if it is. */
  localDir: string | null;
}

function rows(root: string): Row[] {
  return MODEL_TYPES.map((type) => ({
    name: type.name,
    family: type.family,
    hubId: type.hubId,
    modelScopeId: type.modelScopeId ?? null,
    architecture: type.architecture,
    template: type.chatFormat ?? type.template,
    params: type.params,
    gated: type.gated === true,
    notes: type.notes ?? null,
    localDir: type.hubId === null ? demoModelDir() : (cachedModelDir(type.hubId, 'main', root) ?? null),
  }));
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('models', 'List the model types --model accepts and the models in the local cache.', FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const root = cacheRoot();
  const types = rows(root);
  const others = listCachedModels(root).filter((cached) => !modelTypeOfHubId(cached.id));
  if (flags['json']) {
    console.log(JSON.stringify({ cacheDir: root, modelTypes: types, otherCached: others }, null, 2));
    return 0;
  }
  const body = types.map((row) => [
    row.name,
    row.hubId ?? `(bundled: ${relative(process.cwd(), row.localDir ?? '') || '.'})`,
    row.architecture,
    row.template,
    row.params,
    row.localDir !== null ? 'yes' : '',
    [row.gated ? 'gated: needs HF_TOKEN' : '', row.notes ?? ''].filter((note) => note !== '').join('; '),
  ]);
  console.log(table(['MODEL TYPE', 'HUB ID', 'ARCHITECTURE', 'TEMPLATE', 'PARAMS', 'CACHED', 'NOTE'], body));
  if (others.length > 0) {
    console.log(`\nalso cached:\n${others.map((cached) => `  ${cached.id}`).join('\n')}`);
  }
  console.log(`\ncache: ${root} (set SWIFTLET_CACHE to move it)`);
  console.log('--model takes a model type, a hub id (org/name) or a checkpoint directory; no --model runs the demo model.');
  return 0;
}
