/**
 * `swiftlet app-ui --model DIR [--lora-modules name=PATH] [--host 127.0.0.1] [--port 7860]`:
 * the web chat page (ui/) and the OpenAI API it talks to, on one local server. The page's URL
 * goes to stdout (so scripts can read it); the log goes to stderr. SIGINT / SIGTERM stop it.
 */
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { modelForAdapters } from '../adapter-base-model.js';
import { listenFlags } from '../listen-flags.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../model-flags.js';
import { ModelHost } from '../../host/model-host.js';
import { startServer } from '../../server/server.js';
import { findUiDir } from '../../server/ui-route.js';

/** Seconds an answer being written may take to finish when the page is stopped. */
const SHUTDOWN_GRACE_MS = 2_000;

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  // NOTE: 7860 is where SWIFT's (Gradio) app-ui listens, so bookmarks keep working.
  ...listenFlags(7860),
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...MODEL_FLAGS,
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('app-ui', 'Chat with a model (and its LoRA adapters) in a web page served locally (with --api-key, the page asks for the key).', FLAGS));
    return 0;
  }
  if (flags['model'] === undefined && positionals.length === 1) flags['model'] = positionals[0];
  else if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const port = flags['port'] as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer in 0..65535');
  const options = modelOptionsFrom(flags);
  const uiDir = findUiDir();
  const log = (message: string) => console.error(`swiftlet app-ui: ${message}`);

  modelForAdapters(options, log);
  const host = await ModelHost.load(options, log);
  const server = await startServer(host, {
    hostname: flags['host'] as string,
    port,
    apiKey: (flags['api-key'] as string | undefined) ?? process.env['SWIFTLET_API_KEY'] ?? undefined,
    uiDir,
    log,
  });
  const names = [host.servedModelName, ...host.adapters.list().map((adapter) => adapter.name)];
  log(`serving ${names.map((name) => `'${name}'`).join(', ')}; open the page below in a browser (Ctrl-C stops)`);
  console.log(`${server.url}/`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log(`${signal}: stopping`);
  const forceExit = () => process.exit(1);
  process.once('SIGTERM', forceExit);
  process.once('SIGINT', forceExit);
  await server.shutdown(SHUTDOWN_GRACE_MS);
  host.dispose();
  return 0;
}
