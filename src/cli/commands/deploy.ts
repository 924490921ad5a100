/**
 * `swiftlet deploy --model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]`: the
 * OpenAI-compatible server. SIGTERM / SIGINT stop accepting, let requests in flight finish
 * within --shutdown-timeout seconds, abort the rest and exit 0; a second signal exits at once.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { modelForAdapters } from '../adapter-base-model.js';
import { AGENT_FLAGS, agentOptionsFrom } from '../agent-flags.js';
import { GROUP_FLAGS, groupOptionsFrom } from '../group-flags.js';
import { listenFlags } from '../listen-flags.js';
import { MODEL_FLAGS, modelOptionsFrom, parseBytes } from '../model-flags.js';
import { ModelHost } from '../../host/model-host.js';
import { runTensorParallelRank } from '../../host/tensor-parallel-rank.js';
import { DEFAULT_MAX_BODY_BYTES, startServer } from '../../server/server.js';
import { findUiDir } from '../../server/ui-route.js';

/** Exported so the Kubernetes manifests' args (test/deploy-files.test.ts) and the help (test/cli-help.test.ts) can be checked against them. */
export const FLAGS: FlagSpecs = {
  ...listenFlags(8000),
  'allowed-origins': { kind: 'list', help: 'CORS origins allowed, or * for any', defaultText: '*' },
  'max-request-body': { kind: 'string', help: 'largest request body, e.g. 32MiB', defaultText: `${DEFAULT_MAX_BODY_BYTES} bytes` },
  'enable-runtime-lora-updating': { kind: 'boolean', default: false, help: 'serve /v1/load_lora_adapter and /v1/unload_lora_adapter without an API key (also $SWIFTLET_ALLOW_RUNTIME_LORA_UPDATING=1; with --api-key they are on)' },
  'lora-root': { kind: 'list', help: 'a directory /v1/load_lora_adapter may load adapters from (repeatable); without one, only --lora-modules are served' },
  adapters: { kind: 'list', help: "SWIFT's: adapters as name=PATH, or PATH (named after its directory); added to --lora-modules" },
  ui: { kind: 'boolean', default: false, help: 'also serve the web chat page at / (what swiftlet app-ui serves)' },
  'shutdown-timeout': { kind: 'number', default: 10, help: 'seconds in-flight requests may take to finish on SIGTERM before they are aborted' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...AGENT_FLAGS,
  ...MODEL_FLAGS,
  ...GROUP_FLAGS,
};

/** SWIFT's `--adapters`: `name=PATH` as --lora-modules takes it, or a bare PATH named after its directory. */
function swiftAdapters(values: string[] | undefined): { name: string; path: string }[] {
  return (values ?? []).map((value) => {
    const eq = value.indexOf('=');
    return eq > 0 ? { name: value.slice(0, eq), path: value.slice(eq + 1) } : { name: basename(resolve(value)), path: value };
  });
}

/** NOTE: checked before the model loads, so a typo costs a one-line error rather than a failed request later. */
function loraRoots(values: string[] | undefined): string[] {
  for (const root of values ?? []) if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`--lora-root ${root}: not a directory`);
  return values ?? [];
}

/** Origins as listed, or as vLLM's single JSON list (`--allowed-origins '["*"]'`). */
function allowedOrigins(values: string[] | undefined): string[] {
  if (values === undefined) return ['*'];
  if (values.length === 1 && (values[0] as string).trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values[0] as string);
    } catch {
      throw new UsageError(`--allowed-origins: not a JSON list: ${values[0]}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((origin) => typeof origin === 'string')) {
      throw new UsageError('--allowed-origins: the JSON list must hold strings');
    }
    return parsed as string[];
  }
  return values;
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('deploy', 'Serve a model (and its LoRA adapters) over an OpenAI-compatible HTTP API.', FLAGS));
    return 0;
  }
  // NOTE: vLLM's `vllm serve MODEL` takes the model as a positional; accept that too.
  if (flags['model'] === undefined && positionals.length === 1) flags['model'] = positionals[0];
  else if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const port = flags['port'] as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer in 0..65535');
  const shutdownTimeout = flags['shutdown-timeout'] as number;
  if (!(shutdownTimeout >= 0)) throw new UsageError('--shutdown-timeout must be a number of seconds >= 0');
  const maxBody = flags['max-request-body'] as string | undefined;
  const options = modelOptionsFrom(flags);
  const agent = agentOptionsFrom(flags);
  options.loraModules.push(...swiftAdapters(flags['adapters'] as string[] | undefined));
  const roots = loraRoots(flags['lora-root'] as string[] | undefined);
  const log = (message: string) => console.error(`swiftlet deploy: ${message}`);
  const group = groupOptionsFrom(flags, options.tensorParallelSize);
  if (group !== undefined && (options.dataParallelSize ?? 1) > 1) throw new UsageError('--nnodes > 1 and --data-parallel-size > 1 do not combine yet');
  if (group !== undefined && group.rank > 0) {
    // NOTE: rank 0 stops this process (its shutdown message, or its connection closing) on its SIGTERM.
    await runTensorParallelRank(options, group, log);
    log('stopped by rank 0');
    return 0;
  }
  if (group !== undefined) options.group = group;

  modelForAdapters(options, log);
  const host = await ModelHost.load(options, log);
  const server = await startServer(host, {
    hostname: flags['host'] as string,
    agent,
    port,
    apiKey: (flags['api-key'] as string | undefined) ?? process.env['SWIFTLET_API_KEY'] ?? undefined,
    allowedOrigins: allowedOrigins(flags['allowed-origins'] as string[] | undefined),
    maxBodyBytes: maxBody === undefined ? undefined : parseBytes(maxBody),
    uiDir: flags['ui'] ? findUiDir() : undefined,
    loraRoots: roots,
    allowRuntimeLoraUpdating: flags['enable-runtime-lora-updating'] || process.env['SWIFTLET_ALLOW_RUNTIME_LORA_UPDATING'] === '1' ? true : undefined,
    log,
  });
  const names = [host.servedModelName, ...host.adapters.list().map((adapter) => adapter.name)];
  log(`serving ${names.map((name) => `'${name}'`).join(', ')} on ${server.url} (OpenAI API at ${server.url}/v1${flags['ui'] ? `, web chat at ${server.url}/` : ''})`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log(`${signal}: shutting down (in-flight requests get ${shutdownTimeout} s)`);
  const forceExit = () => {
    log('second signal: exiting now');
    process.exit(1);
  };
  process.once('SIGTERM', forceExit);
  process.once('SIGINT', forceExit);
  await server.shutdown(shutdownTimeout * 1000);
  host.dispose();
  log('stopped');
  return 0;
}
