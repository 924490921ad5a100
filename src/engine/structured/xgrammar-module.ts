/**
 * Loads @mlc-ai/web-xgrammar (xgrammar, vLLM's default grammar engine, built to WASM) under Node.
 *
 * NOTE: 0.1.27's lib/index.js is a UMD bundle that calls `require` and reads `__filename`, but
 * its package.json says `"type": "module"`, so Node 20's `import()` fails with "require is not
 * defined in ES module scope" and `require()` refuses it as ESM. We evaluate the bundle as the
 * CommonJS module it really is, once per process.
 *
 * NOTE: xgrammar reports a bad grammar by printing `[FATAL] file:line: message` to stderr and
 * aborting (a `RuntimeError: Aborted()`); the instance stays usable afterwards. The WASM glue
 * binds `console.error` when it first initialises, so we hand it a router during that call and
 * `captureFatal` turns the printed line into the error's message.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type * as Xgrammar from '@mlc-ai/web-xgrammar';

export type XgrammarModule = typeof Xgrammar;

let loading: Promise<XgrammarModule> | null = null;
let stderrSink: string[] | null = null;

export function loadXgrammar(): Promise<XgrammarModule> {
  loading ??= instantiate();
  return loading;
}

async function instantiate(): Promise<XgrammarModule> {
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const module = { exports: {} as Record<string, unknown> };
  const evaluate = new Function('exports', 'module', 'require', '__filename', '__dirname', readFileSync(file, 'utf8')) as (
    ...args: unknown[]
  ) => void;
  evaluate(module.exports, module, require, file, dirname(file));
  const xgrammar = module.exports as unknown as XgrammarModule;

  const consoleError = console.error;
  console.error = (...args: unknown[]): void => {
    if (stderrSink !== null) stderrSink.push(args.map(String).join(' '));
    else consoleError(...args);
  };
  try {
    // The first call initialises the WASM binding, which binds console.error as it is now.
    (await xgrammar.Grammar.fromEBNF('root ::= "a"')).dispose();
  } finally {
    console.error = consoleError;
  }
  return xgrammar;
}

/** Thrown when xgrammar rejects a grammar, regex or schema; the message is xgrammar's own. */
export class GrammarError extends Error {
  override name = 'GrammarError';
}

/** Runs one xgrammar call, turning its abort into a GrammarError with the FATAL line's text. */
export async function captureFatal<T>(call: () => Promise<T> | T): Promise<T> {
  const sink: string[] = [];
  stderrSink = sink;
  try {
    return await call();
  } catch (error) {
    const fatal = sink.map((line) => /\[FATAL\] [^ ]+:\d+: (.*)/s.exec(line)?.[1]).find((m) => m !== undefined);
    throw new GrammarError(fatal ?? (error instanceof Error ? error.message : String(error)));
  } finally {
    stderrSink = null;
  }
}
