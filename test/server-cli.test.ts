/**
 * `swiftlet deploy` as a real child process: flags (SWIFT spellings too), the API key, a
 * request through the openai client, and SIGTERM letting a request in flight finish before
 * the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import OpenAI from 'openai';
import { ADAPTER_DIR, MODEL_DIR, MODEL_NAME, reference } from './helpers/live-server.js';
import { cliCommand } from './helpers/cli-command.js';
import { deploy, killDeployed } from './helpers/deploy-child.js';
import { repoRoot } from './helpers/paths.js';

test('swiftlet deploy serves the model and adapter behind an API key, and exits 0 on SIGTERM after in-flight work', async () => {
  const deployed = await deploy([
    '--model', MODEL_DIR,
    '--served-model-name', MODEL_NAME,
    '--lora_modules', `a=${ADAPTER_DIR}`,
    '--host', '127.0.0.1',
    '--port', '0',
    '--api-key', 'k3y',
    '--device', 'cpu',
    '--kv-cache-memory', '32MiB',
    '--max_model_len', '2048',
    '--shutdown-timeout', '20',
  ]);
  const { child, url, log } = deployed;
  try {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k3y', maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => [m.id, (m as unknown as { max_model_len: number }).max_model_len]),
      [[MODEL_NAME, 2048], ['a', 2048]],
    );
    await assert.rejects(new OpenAI({ baseURL: `${url}/v1`, apiKey: 'nope', maxRetries: 0 }).models.list(), OpenAI.AuthenticationError);
    const ref = reference.lora.a.raw[0];
    assert.ok(ref);
    const completion = await client.completions.create({ model: 'a', prompt: ref.prompt, max_tokens: ref.output_ids.length, temperature: 0 });
    assert.equal(completion.choices[0]?.text, ref.text);

    const stream = await client.completions.create({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 60, temperature: 0, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    let numChunks = 1;
    let finishReason: string | null = null;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      numChunks++;
      finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
    }
    assert.equal(finishReason, 'length');
    assert.equal(numChunks, 60);
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, null);
    assert.equal(code, 0, log.join('\n'));
    assert.ok(log.some((line) => /SIGTERM: shutting down/.test(line)));
  } finally {
    killDeployed(deployed);
  }
});

test('swiftlet deploy refuses bad flags with a usage error (exit 2)', async () => {
  const child = spawn(process.execPath, [...cliCommand(), 'deploy', '--model', MODEL_DIR, '--port', 'eighty'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.match(stderr, /--port expects a number/);
});
