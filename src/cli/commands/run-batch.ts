/**
 * `swiftlet run-batch -i IN.jsonl -o OUT.jsonl --model DIR`: the OpenAI Batch file format.
 * Each input line `{custom_id, method, url, body}` gets one output line
 * `{id, custom_id, response: {status_code, request_id, body}, error}`, in input order. All lines
 * go to the engine together, so they are batched; a bad line gets an error line and the rest run.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../model-flags.js';
import { ModelHost } from '../../host/model-host.js';
import { OpenAIService, type Json } from '../../host/openai-service.js';
import { ApiError, badRequest } from '../../protocol/errors.js';

const FLAGS: FlagSpecs = {
  'input-file': { kind: 'string', aliases: ['-i'], help: 'the batch file (JSONL); - for stdin' },
  'output-file': { kind: 'string', aliases: ['-o'], help: 'where results go (JSONL); - for stdout' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...MODEL_FLAGS,
};

const ENDPOINTS = ['/v1/completions', '/v1/chat/completions'] as const;

interface BatchLine {
  custom_id: string | null;
  run: () => Promise<Json>;
}

function errorLine(customId: string | null, error: ApiError): Json {
  return {
    id: `batch_req_${randomUUID().replace(/-/g, '')}`,
    custom_id: customId,
    response: { status_code: error.status, request_id: null, body: error.toBody() },
    error: { code: error.type, message: error.message },
  };
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(500, (error as Error).message ?? String(error));
}

function parseLine(text: string, lineNumber: number, service: OpenAIService): BatchLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const message = `line ${lineNumber}: not valid JSON (${(error as Error).message})`;
    return { custom_id: null, run: async () => errorLine(null, badRequest(message)) };
  }
  const line = (parsed ?? {}) as Record<string, unknown>;
  const customId = typeof line['custom_id'] === 'string' ? line['custom_id'] : null;
  const fail = (message: string, param: string) => ({ custom_id: customId, run: async () => errorLine(customId, badRequest(`line ${lineNumber}: ${message}`, param)) });
  if (customId === null) return fail('custom_id must be a string', 'custom_id');
  if (line['method'] !== 'POST') return fail(`method must be "POST", got ${JSON.stringify(line['method'])}`, 'method');
  const url = line['url'];
  if (!ENDPOINTS.includes(url as (typeof ENDPOINTS)[number])) return fail(`url must be one of ${ENDPOINTS.join(', ')}, got ${JSON.stringify(url)}`, 'url');
  const body = line['body'];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('body must be a JSON object', 'body');
  const requestBody = { ...(body as Json), stream: false };
  return {
    custom_id: customId,
    run: async () => {
      try {
        const result = url === '/v1/completions' ? await service.completion(requestBody) : await service.chat(requestBody);
        if (result.kind !== 'json') throw new Error('unexpected stream');
        return {
          id: `batch_req_${randomUUID().replace(/-/g, '')}`,
          custom_id: customId,
          response: { status_code: 200, request_id: result.body['id'] ?? null, body: result.body },
          error: null,
        };
      } catch (error) {
        return errorLine(customId, asApiError(error));
      }
    },
  };
}

async function readLines(path: string): Promise<string[]> {
  const input = path === '-' ? process.stdin : createReadStream(path, 'utf8');
  const lines: string[] = [];
  for await (const line of createInterface({ input, crlfDelay: Infinity })) if (line.trim() !== '') lines.push(line);
  return lines;
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('run-batch', 'Answer an OpenAI Batch file: one request per line, one result per line, in order.', FLAGS));
    return 0;
  }
  const inputPath = flags['input-file'] as string | undefined;
  const outputPath = flags['output-file'] as string | undefined;
  if (!inputPath || !outputPath) throw new UsageError('-i/--input-file and -o/--output-file are required');
  const options = modelOptionsFrom(flags);
  const lines = await readLines(inputPath);
  const host = await ModelHost.load({ ...options, maxWaiting: Number.POSITIVE_INFINITY }, (message) => console.error(message));
  try {
    const service = new OpenAIService(host);
    const started = performance.now();
    const results = lines.map((text, index) => parseLine(text, index + 1, service).run());
    const output = outputPath === '-' ? process.stdout : createWriteStream(outputPath);
    let numErrors = 0;
    for (const result of results) {
      const line = await result;
      if (line['error'] !== null) numErrors++;
      if (!output.write(`${JSON.stringify(line)}\n`)) await once(output, 'drain');
    }
    if (output !== process.stdout) {
      output.end();
      await once(output, 'finish');
    }
    const stats = host.engine.stats();
    const seconds = (performance.now() - started) / 1000;
    console.error(
      `run-batch: ${lines.length} requests (${numErrors} failed) in ${seconds.toFixed(2)} s; ` +
        `${stats.promptTokensTotal} prompt + ${stats.generationTokensTotal} generated tokens (${(stats.generationTokensTotal / seconds).toFixed(1)} tok/s)`,
    );
    return 0;
  } finally {
    host.dispose();
  }
}
