/**
 * The web chat page in headless Chromium (test/helpers/browser.ts, driven by playwright-core)
 * against a live server over the tiny-qwen2 fixture and its LoRA adapter `lora-a`: the API
 * key field, the model picker, streamed greedy answers equal to the transformers reference,
 * multi-turn history, the system prompt, an inline 400, stop, copy, clear, a narrow window;
 * then the screenshot in docs/app-ui.png. (Markdown: app-ui-markdown.test.ts.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from './helpers/browser.js';
import { ModelHost } from '../src/host/model-host.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { findUiDir } from '../src/server/ui-route.js';
import { eventually, fixtureModelOptions, MODEL_NAME } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';
import { loraDir, reference } from './helpers/reference.js';

const API_KEY = 'page-key';
const ADAPTER = 'lora-a';
/** A test run leaves the committed screenshot alone unless asked to refresh it. */
const SCREENSHOT = process.env['SWIFTLET_UPDATE_SCREENSHOT'] === '1'
  ? join(repoRoot, 'docs', 'app-ui.png')
  : join(tmpdir(), 'swiftlet-app-ui.png');

let host: ModelHost;
let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Bodies the page POSTed to /v1/chat/completions, in order. */
const sent: { model?: string; messages: { role: string; content: string }[]; max_tokens?: number; temperature?: number; stream?: boolean }[] = [];

before(async () => {
  host = await ModelHost.load(fixtureModelOptions({ loraModules: [{ name: ADAPTER, path: loraDir }], kvCacheBytes: 64 * 1024 * 1024 }));
  server = await startServer(host, { hostname: '127.0.0.1', port: 0, apiKey: API_KEY, uiDir: findUiDir() });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ['clipboard-read', 'clipboard-write'] });
  page = await context.newPage();
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/v1/chat/completions')) sent.push(request.postDataJSON());
  });
  page.on('pageerror', (error) => assert.fail(`the page threw: ${error.stack ?? error.message}`));
});

after(async () => {
  await browser?.close();
  await server?.shutdown(0);
  host?.dispose();
});

/** The last assistant message once it has left the `streaming` state. */
async function lastAnswerSettled(timeout = 30_000): Promise<string> {
  const answer = page.locator('.msg-assistant').last();
  await answer.and(page.locator('.msg-assistant:not([data-state="streaming"])')).waitFor({ timeout });
  return (await answer.getAttribute('data-state')) as string;
}

async function send(text: string): Promise<void> {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

async function copiedAnswer(): Promise<string> {
  await page.locator('.msg-assistant').last().locator('.copy-answer').click();
  return page.evaluate(() => navigator.clipboard.readText());
}

test('the page and its files are served without the API key; the API still needs it', async () => {
  const index = await fetch(`${server.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(await index.text(), /<title>swiftlet chat<\/title>/);
  for (const [path, type] of [['/app.js', /^text\/javascript/], ['/markdown.js', /^text\/javascript/], ['/style.css', /^text\/css/], ['/favicon.svg', /^image\/svg/]] as const) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type') ?? '', type, path);
  }
  assert.equal((await fetch(`${server.url}/../package.json`)).status, 404);
  assert.equal((await fetch(`${server.url}/nothing.js`)).status, 404);
  assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test('the API key field unlocks the model picker: the base model and the adapter', async () => {
  await page.goto(`${server.url}/`);
  await page.locator('#notice', { hasText: 'API key' }).waitFor();
  await page.fill('#api-key', API_KEY);
  await page.press('#api-key', 'Tab');
  await page.waitForFunction(() => document.querySelectorAll('#model option').length === 2);
  const options = await page.$$eval('#model option', (nodes) => nodes.map((node) => [(node as HTMLOptionElement).value, node.textContent]));
  assert.deepEqual(options, [[MODEL_NAME, MODEL_NAME], [ADAPTER, `${ADAPTER} · LoRA`]]);
  assert.equal(await page.isVisible('#notice'), false);
  assert.equal(await page.textContent('#empty-model'), MODEL_NAME);
});

test('a message streams back the greedy reference answer, then a second turn carries the history', async () => {
  const ref = reference.chat[0];
  assert.ok(ref);
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', String(ref.output_ids.length));
  // NOTE: watched from inside the page: a short answer can finish before a check from here lands.
  await page.evaluate(() => {
    const stop = document.getElementById('stop') as HTMLElement;
    const seen: boolean[] = [];
    (window as unknown as { stopSeen: boolean[] }).stopSeen = seen;
    new MutationObserver(() => { if (!stop.hidden) seen.push(true); }).observe(stop, { attributes: true });
  });
  await send(ref.messages[0]?.content as string);
  assert.equal(await lastAnswerSettled(), 'done');
  assert.equal(await page.evaluate(() => (window as unknown as { stopSeen: boolean[] }).stopSeen.length > 0), true, 'Stop shows while the answer streams');
  assert.equal(await page.isVisible('#stop'), false, 'Stop hides once the answer is done');
  assert.equal(await copiedAnswer(), ref.text);
  const stats = await page.locator('.msg-assistant .msg-stats').last().locator('span').allInnerTexts();
  assert.equal(stats[0], `${ref.output_ids.length} tokens`);
  assert.match(stats[2] ?? '', /^[\d.]+ tok\/s$/);
  assert.equal(stats[3], 'reached max tokens');
  assert.deepEqual(sent[0], { model: MODEL_NAME, messages: ref.messages, temperature: 0, max_tokens: ref.output_ids.length, stream: true, stream_options: { include_usage: true } });

  await send('浙江的省会在哪?');
  assert.equal(await lastAnswerSettled(), 'done');
  assert.deepEqual(sent[1]?.messages, [
    { role: 'user', content: ref.messages[0]?.content },
    { role: 'assistant', content: ref.text },
    { role: 'user', content: '浙江的省会在哪?' },
  ]);
  assert.equal(await page.locator('.regenerate').count(), 1, 'only the last answer offers Regenerate');
});

test("the server's 400 shows inline under the answer; the next question leaves the failed exchange out; Regenerate re-asks", async () => {
  await page.fill('#max-tokens', '100000');
  await send('hi');
  assert.equal(await lastAnswerSettled(), 'error');
  const error = page.locator('.msg-assistant').last().locator('.msg-error');
  assert.match(await error.innerText(), /maximum context length is \d+ tokens/);
  assert.equal(await page.locator('.msg-assistant').last().locator('.regenerate').innerText(), 'Retry');

  await page.fill('#max-tokens', '4');
  await send('again');
  assert.equal(await lastAnswerSettled(), 'done');
  const users = sent[sent.length - 1]?.messages.filter((message) => message.role === 'user').map((message) => message.content);
  assert.deepEqual(users, [reference.chat[0]?.messages[0]?.content, '浙江的省会在哪?', 'again']);
  assert.equal(sent[sent.length - 1]?.messages.length, 5);

  const numAnswers = await page.locator('.msg-assistant').count();
  await page.locator('.msg-assistant').last().locator('.regenerate').click();
  assert.equal(await lastAnswerSettled(), 'done');
  assert.equal(await page.locator('.msg-assistant').count(), numAnswers, 'Regenerate replaces the last answer');
  assert.deepEqual(sent[sent.length - 1]?.messages, sent[sent.length - 2]?.messages);
});

test('New chat clears the conversation', async () => {
  await page.click('#clear');
  assert.equal(await page.locator('.msg').count(), 0);
  assert.equal(await page.isVisible('#empty'), true);
});

test('the picker sends to the LoRA adapter, with the system prompt, and gets its reference answer', async () => {
  const ref = reference.lora.a.chat.find((chat) => chat.messages[0]?.role === 'system');
  assert.ok(ref);
  await page.selectOption('#model', ADAPTER);
  await page.fill('#system', ref.messages[0]?.content as string);
  await page.fill('#max-tokens', String(ref.output_ids.length));
  const numSent = sent.length;
  await send(ref.messages[1]?.content as string);
  assert.equal(await lastAnswerSettled(), 'done');
  assert.equal(await copiedAnswer(), ref.text);
  assert.deepEqual(sent[numSent]?.messages, ref.messages);
  assert.equal(sent[numSent]?.model, ADAPTER);
  const shown = await page.locator('.msg-assistant .msg-body').last().innerText();
  assert.ok(shown.includes('Downtown'), `the answer is on the page: ${shown}`);
  assert.equal(await page.locator('.msg-assistant .msg-model').last().innerText(), ADAPTER);
});

test('a second turn with the adapter, then the screenshot in docs/app-ui.png', async () => {
  // NOTE: greedy and batch-invariant, so the screenshot shows the same words on every run.
  await page.fill('#max-tokens', '24');
  await send('Tell me more.');
  assert.equal(await lastAnswerSettled(), 'done');
  assert.equal(sent[sent.length - 1]?.messages.length, 4);
  mkdirSync(join(repoRoot, 'docs'), { recursive: true });
  await page.mouse.move(640, 600);
  // NOTE: without the timings the picture is the same on every run, so a test run leaves docs/
  // unchanged. (Playwright's `style` option injects a <style>, which the page's CSP refuses.)
  await page.$$eval('.stat-time, .stat-rate', (nodes) => nodes.forEach((node) => ((node as HTMLElement).style.display = 'none')));
  await page.screenshot({ path: SCREENSHOT });
  assert.ok(existsSync(SCREENSHOT));
});

test('Stop ends a long answer: the page keeps what came, the server aborts the request', async () => {
  await page.fill('#max-tokens', '');
  await send('Tell me about paged attention.');
  const body = page.locator('.msg-assistant').last().locator('.msg-body');
  await page.waitForFunction(() => {
    const answers = document.querySelectorAll('.msg-assistant[data-state="streaming"] .msg-body');
    return (answers[answers.length - 1]?.textContent ?? '').length >= 24;
  });
  assert.equal(server.service.numInFlight, 1);
  await page.click('#stop');
  assert.equal(await lastAnswerSettled(), 'stopped');
  await eventually(async () => server.service.numInFlight === 0);
  const kept = await body.innerText();
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(await body.innerText(), kept, 'nothing arrives after Stop');
  assert.ok(kept.length >= 24);
  assert.equal(await page.locator('.msg-assistant .stat-end').last().innerText(), 'stopped');
  assert.equal(await page.isVisible('#send'), true);
  assert.equal(sent[sent.length - 1]?.max_tokens, undefined, 'an empty field leaves the server default');
});

test('in a narrow window the settings become a drawer', async () => {
  await page.setViewportSize({ width: 400, height: 760 });
  const isSettingsOffScreen = () => (document.querySelector('#settings')?.getBoundingClientRect().right ?? 1) <= 0;
  await page.waitForFunction(isSettingsOffScreen);
  await page.click('#toggle-settings');
  await page.waitForFunction(() => (document.querySelector('#settings')?.getBoundingClientRect().x ?? -1) >= 0);
  await page.keyboard.press('Escape');
  await page.waitForFunction(isSettingsOffScreen);
  const composer = await page.locator('#composer').boundingBox();
  assert.ok(composer && composer.x >= 0 && composer.x + composer.width <= 400, 'the composer fits the window');
});
