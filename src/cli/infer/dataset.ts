/**
 * `swiftlet infer --dataset FILE.jsonl`: every line answered, all submitted to the engine at
 * once so they run batched. A line is `{messages}` or SWIFT's `{query, history, system}`;
 * a last assistant message (or a `response` next to `query`) is the reference answer and is
 * kept as `labels`, as SWIFT does. Each output line is the input line plus `response` and
 * the conversation updated with it (`history` or `messages`), in input order; a line that
 * cannot run gets `error` instead and the others still run.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { ChatMessage, InferBackend, InferRequest, RequestConfig } from '../../llm/types.js';
import { contentText } from '../../llm/conversation.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { readNumberedLines } from '../batch/input-lines.js';

type Json = Record<string, unknown>;

export interface DatasetOptions {
  backend: InferBackend;
  config: RequestConfig;
  inputPath: string;
  outputPath: string;
  /** A system prompt for lines that bring none. */
  system?: string;
  progress: ProgressStream;
}

export interface DatasetSummary {
  numLines: number;
  numFailed: number;
  numCompletionTokens: number;
  seconds: number;
}

/** Where results go when --output is not given: `data.jsonl` -> `data.infer.jsonl` beside it. */
export function defaultOutputPath(inputPath: string): string {
  const extension = extname(inputPath);
  return join(dirname(inputPath), `${basename(inputPath, extension)}.infer${extension || '.jsonl'}`);
}

interface DatasetLine {
  record: Json;
  request: InferRequest | null;
  labels: string | undefined;
  /** Why the line cannot run. */
  problem: string | null;
}

function parseLine(text: string, lineNumber: number, system: string | undefined): DatasetLine {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    return { record: { line: lineNumber }, request: null, labels: undefined, problem: `line ${lineNumber}: not valid JSON (${(error as Error).message})` };
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return { record: { line: lineNumber }, request: null, labels: undefined, problem: `line ${lineNumber}: expected a JSON object` };
  }
  const json = record as Json;
  const fail = (message: string): DatasetLine => ({ record: json, request: null, labels: undefined, problem: `line ${lineNumber}: ${message}` });
  if (Array.isArray(json['messages'])) {
    let messages = json['messages'] as ChatMessage[];
    let labels: string | undefined;
    const last = messages[messages.length - 1];
    if (last?.role === 'assistant') {
      labels = contentText(last.content);
      messages = messages.slice(0, -1);
    }
    if (messages.length === 0) return fail('`messages` has no turn to answer');
    if (system !== undefined && !messages.some((message) => message?.role === 'system')) {
      messages = [{ role: 'system', content: system }, ...messages];
    }
    return { record: json, request: { messages }, labels, problem: null };
  }
  if (typeof json['query'] === 'string') {
    const history = json['history'] as [string, string][] | null | undefined;
    const lineSystem = typeof json['system'] === 'string' ? json['system'] : system;
    const labels = typeof json['response'] === 'string' ? json['response'] : undefined;
    return { record: json, request: { query: json['query'], history, ...(lineSystem !== undefined ? { system: lineSystem } : {}) }, labels, problem: null };
  }
  return fail('expected `messages` (an array) or `query` (a string)');
}

export async function runDataset(options: DatasetOptions): Promise<DatasetSummary> {
  const numbered = await readNumberedLines(options.inputPath);
  // NOTE: an output that cannot be written fails here, before any work is done.
  const output = createWriteStream(options.outputPath);
  await once(output, 'open');
  const lines = numbered.map(({ text, lineNumber }) => parseLine(text, lineNumber, options.system));
  const progress = new ProgressBar(lines.length, options.progress);
  const started = performance.now();
  let numCompletionTokens = 0;

  const answer = async (line: DatasetLine): Promise<Json> => {
    try {
      if (line.request === null) throw new Error(line.problem ?? 'cannot run this line');
      let last = null;
      for await (const chunk of options.backend.inferStream(line.request, options.config)) {
        const numNew = chunk.tokenIds?.length ?? 0;
        numCompletionTokens += numNew;
        progress.addTokens(numNew);
        last = chunk;
      }
      if (last === null) throw new Error('no answer');
      const conversation = 'messages' in line.request ? { messages: last.messages } : { history: last.history };
      return { ...line.record, response: last.response, ...conversation, ...(line.labels !== undefined ? { labels: line.labels } : {}) };
    } catch (error) {
      return { ...line.record, error: (error as Error).message };
    } finally {
      progress.completeOne();
    }
  };

  // NOTE: every line is started before any is awaited, so the engine sees them all at once.
  const results = lines.map((line) => answer(line));
  let numFailed = 0;
  for (const result of results) {
    const record = await result;
    if ('error' in record) numFailed++;
    if (!output.write(`${JSON.stringify(record)}\n`)) await once(output, 'drain');
  }
  output.end();
  await once(output, 'finish');
  progress.finish();
  return { numLines: lines.length, numFailed, numCompletionTokens, seconds: (performance.now() - started) / 1000 };
}
