/**
 * `swiftlet run-batch -i IN.jsonl -o OUT.jsonl --model DIR`: the OpenAI Batch file format.
 * Each input line `{custom_id, method, url, body}` gets one output line
 * `{id, custom_id, response: {status_code, request_id, body}, error}`. All lines go to the
 * engine together, so they are batched; a bad line gets an error line and the rest run.
 * Each result is appended to the output as it finishes and the file is put in input order at
 * the end, so an interrupted run keeps every finished result and `--resume` completes it.
 * Exit status: see ../exit-status.ts.
 */
import { existsSync } from 'node:fs';
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { modelForAdapters } from '../adapter-base-model.js';
import { AGENT_FLAGS, agentOptionsFrom } from '../agent-flags.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../model-flags.js';
import { fileRunExitStatus, type InterruptSignal } from '../exit-status.js';
import { ModelHost } from '../../host/model-host.js';
import { OpenAIService } from '../../host/openai-service.js';
import { ProgressBar } from '../infer/progress.js';
import { answerBatchLine, completionTokensOf, isFailed, parseBatchLine, refuseRepeatedIds } from '../batch/batch-lines.js';
import { readNumberedLines } from '../batch/input-lines.js';
import { watchInterrupts } from '../batch/interrupts.js';
import { checkOutputPath, type OutputMode } from '../batch/output-path.js';
import { openResultSink, readAnswered } from '../batch/result-file.js';

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  'input-file': { kind: 'string', aliases: ['-i'], help: 'the batch file (JSONL); - for stdin' },
  'output-file': { kind: 'string', aliases: ['-o'], help: 'where results go (JSONL); - for stdout (in completion order)' },
  resume: { kind: 'boolean', default: false, help: 'keep the results already in the output and answer only the custom_ids it lacks (or whose result failed)' },
  overwrite: { kind: 'boolean', default: false, help: 'replace an output file that already holds results' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...AGENT_FLAGS,
  ...MODEL_FLAGS,
};

const SUMMARY = [
  'Answer an OpenAI Batch file: one request per line, one result per line, in input order.',
  'Results are written as they finish; an interrupted run (Ctrl-C, SIGTERM) keeps them, and',
  'the same command with --resume answers the rest. Progress goes to stderr.',
  'Exit status: 0 all answered, 1 some line failed, 2 usage, 130/143 interrupted.',
].join('\n');

function outputMode(resume: boolean, overwrite: boolean): OutputMode {
  if (resume && overwrite) throw new UsageError('give --resume or --overwrite, not both');
  return resume ? 'resume' : overwrite ? 'overwrite' : 'new';
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('run-batch', SUMMARY, FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]} (flags only; see --help)`);
  const inputPath = flags['input-file'] as string | undefined;
  const outputPath = flags['output-file'] as string | undefined;
  if (!inputPath || !outputPath) throw new UsageError('-i/--input-file and -o/--output-file are required');
  if (inputPath !== '-' && !existsSync(inputPath)) throw new UsageError(`-i ${inputPath}: no such file`);
  const mode = outputMode(flags['resume'] as boolean, flags['overwrite'] as boolean);
  const options = modelOptionsFrom(flags);
  const agent = agentOptionsFrom(flags);
  checkOutputPath(inputPath, outputPath, mode);
  modelForAdapters(options, (message) => console.error(message));

  const numbered = await readNumberedLines(inputPath);
  const lines = numbered.map(parseBatchLine);
  refuseRepeatedIds(lines, numbered);
  const answered = mode === 'resume' ? readAnswered(outputPath) : new Map<string, string>();
  /** Result lines by input index: those of a previous run now, this run's as they finish. */
  const results = lines.map((line) => (line.customId === null ? undefined : answered.get(line.customId)));
  const toRun = lines.flatMap((line, index) => (results[index] === undefined ? [{ line, index }] : []));
  const sink = openResultSink(outputPath, mode);

  const host = await ModelHost.load({ ...options, maxWaiting: Number.POSITIVE_INFINITY }, (message) => console.error(message));
  const controller = new AbortController();
  let interruptedBy: InterruptSignal | null = null;
  let writeError: Error | null = null;
  const stopWatching = watchInterrupts((signal) => {
    interruptedBy = signal;
    controller.abort();
  });
  try {
    const service = new OpenAIService(host, {}, agent);
    const progress = new ProgressBar(toRun.length, process.stderr, 'run-batch');
    const started = performance.now();
    let numFailed = 0;
    let numAnswered = 0;
    await Promise.all(
      toRun.map(async ({ line, index }) => {
        const result = await answerBatchLine(line, service, controller.signal);
        // NOTE: once stopping, what comes back was cut short by the abort: not a result.
        if (interruptedBy !== null || writeError !== null) return;
        const text = JSON.stringify(result);
        try {
          sink.append(text);
        } catch (error) {
          writeError = error as Error;
          controller.abort();
          return;
        }
        results[index] = text;
        numAnswered++;
        if (isFailed(result)) numFailed++;
        progress.addTokens(completionTokensOf(result));
        progress.completeOne();
      }),
    );
    progress.finish();
    const seconds = (performance.now() - started) / 1000;
    const stats = host.serving.stats();
    const numSkipped = lines.length - toRun.length;
    const skipped = numSkipped > 0 ? `, ${numSkipped} already answered` : '';
    const tokens = `${stats.promptTokensTotal} prompt + ${stats.generationTokensTotal} generated tokens (${(stats.generationTokensTotal / seconds).toFixed(1)} tok/s)`;
    if (writeError !== null) {
      sink.close();
      throw new Error(`writing ${outputPath} failed after ${numAnswered} results: ${(writeError as Error).message}`);
    }
    if (interruptedBy !== null) {
      sink.close();
      console.error(
        `run-batch: interrupted by ${interruptedBy}: ${numAnswered} of ${toRun.length} requests answered (${numFailed} failed${skipped}) in ${seconds.toFixed(2)} s; ` +
          `${tokens}; results so far in ${outputPath}, the same command with --resume answers the rest`,
      );
      return fileRunExitStatus({ numFailed, interruptedBy });
    }
    sink.finish(results as string[]);
    console.error(`run-batch: ${lines.length} requests (${numFailed} failed${skipped}) in ${seconds.toFixed(2)} s; ${tokens}`);
    return fileRunExitStatus({ numFailed, interruptedBy: null });
  } finally {
    stopWatching();
    host.dispose();
  }
}
