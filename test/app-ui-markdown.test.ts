/**
 * The chat page's markdown (ui/markdown.js: marked + DOMPurify, both served from node_modules
 * under /vendor/) in headless Chromium, on the page as the server serves it: the blocks and inline
 * marks a model writes, text that is still streaming in, links that must not navigate anywhere
 * but http(s)/mailto, and HTML in model output that must be neither run nor inserted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './helpers/browser.js';
import { ModelHost } from '../src/host/model-host.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { findUiDir } from '../src/server/ui-route.js';
import { fixtureModelOptions } from './helpers/live-server.js';

let host: ModelHost;
let server: RunningServer;
let browser: Browser;
let page: Page;

before(async () => {
  host = await ModelHost.load(fixtureModelOptions({ loraModules: [], kvCacheBytes: 16 * 1024 * 1024 }));
  server = await startServer(host, { hostname: '127.0.0.1', port: 0, uiDir: findUiDir() });
  browser = await launchBrowser();
  page = await (await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] })).newPage();
  page.on('pageerror', (error) => assert.fail(`the page threw: ${error.stack ?? error.message}`));
  await page.goto(`${server.url}/`);
});

after(async () => {
  await browser?.close();
  await server?.shutdown(0);
  host?.dispose();
});

/** What renderMarkdown(text) puts into a message body on the page, as HTML. */
async function rendered(text: string): Promise<string> {
  return page.evaluate(async (markdown) => {
    const { renderMarkdown } = (await import('/markdown.js' as string)) as { renderMarkdown(text: string): DocumentFragment };
    const holder = document.createElement('div');
    holder.appendChild(renderMarkdown(markdown));
    return holder.innerHTML.trim();
  }, text);
}

test('the libraries come from our server, as JavaScript', async () => {
  for (const path of ['/vendor/marked.js', '/vendor/dompurify.js']) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type') ?? '', /^text\/javascript/, path);
    assert.match(await response.text(), /export ?\{/, path);
  }
});

test('inline marks: strong, em, strike, code spans; snake_case and lone stars stay text; a newline is a line break', async () => {
  assert.equal(
    await rendered('**bold** *it* _it_ ~~gone~~ `a*b*c`'),
    '<p><strong>bold</strong> <em>it</em> <em>it</em> <del>gone</del> <code>a*b*c</code></p>',
  );
  assert.equal(await rendered('max_model_len and 2 * 3 * 4\nnext'), '<p>max_model_len and 2 * 3 * 4<br>next</p>');
});

test('blocks: headings, fenced code with its header, quotes, rules, lists, aligned tables', async () => {
  assert.equal(await rendered('# Title'), '<h1>Title</h1>');
  assert.equal(
    await rendered('```python\ndef f():\n    return "<b>"\n```'),
    '<div class="code-block"><div class="code-head"><span class="code-lang">python</span>' +
      '<button type="button" class="copy-code" title="Copy code">Copy</button></div>' +
      '<pre><code data-lang="python">def f():\n    return "&lt;b&gt;"</code></pre></div>',
  );
  assert.equal(await rendered('> quoted\n\n---'), '<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>');
  assert.equal(await rendered('3. c\n4. d'), '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>');
  assert.equal(await rendered('- one\n  - nested'), '<ul>\n<li>one<ul>\n<li>nested</li>\n</ul>\n</li>\n</ul>');
  const table = await rendered('| a | b |\n|:--|--:|\n| `x` | 2 |');
  assert.match(table, /^<div class="table-wrap"><table>/);
  assert.match(table, /<th align="left">a<\/th>\n<th align="right">b<\/th>/);
  assert.match(table, /<td align="left"><code>x<\/code><\/td>\n<td align="right">2<\/td>/);
});

test('links: http(s) and mailto become anchors opening elsewhere; anything else, and images, only their text', async () => {
  assert.equal(
    await rendered('[docs](https://example.com/a) see https://vllm.ai/docs, [mail](mailto:a@b.c)'),
    '<p><a href="https://example.com/a" target="_blank" rel="noopener noreferrer nofollow">docs</a> see ' +
      '<a href="https://vllm.ai/docs" target="_blank" rel="noopener noreferrer nofollow">https://vllm.ai/docs</a>, ' +
      '<a href="mailto:a@b.c" target="_blank" rel="noopener noreferrer nofollow">mail</a></p>',
  );
  assert.equal(await rendered('[click](javascript:alert(1)) [x](data:text/html,hi) ![img](/v1/models)'), '<p>click x img</p>');
});

test('HTML in model output is shown as text, never inserted nor run', async () => {
  const payloads = [
    '<script>window.pwned = 1</script>',
    '<img src=x onerror="window.pwned = 1">',
    'a <svg onload="window.pwned = 1"></svg> b',
    '## Title <img src=x onerror="window.pwned=1">',
    '| h |\n| - |\n| <img src=x onerror="window.pwned=1"> |',
    '<a href="javascript:window.pwned=1">x</a>',
    '<iframe srcdoc="<script>parent.pwned=1</script>"></iframe>',
    '[x](https://a.b "title\\" onmouseover=\\"window.pwned=1")',
  ];
  for (const payload of payloads) {
    const result = await page.evaluate(async (markdown) => {
      const { renderMarkdown } = (await import('/markdown.js' as string)) as { renderMarkdown(text: string): DocumentFragment };
      const holder = document.createElement('div');
      document.body.appendChild(holder);
      holder.appendChild(renderMarkdown(markdown));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const elements = [...holder.querySelectorAll('*')];
      const summary = {
        tags: elements.map((node) => node.tagName.toLowerCase()),
        handlers: elements.flatMap((node) => node.getAttributeNames().filter((name) => name.startsWith('on'))),
        text: holder.textContent ?? '',
        isPwned: 'pwned' in window,
      };
      holder.remove();
      return summary;
    }, payload);
    assert.deepEqual(result.tags.filter((tag) => ['script', 'img', 'svg', 'iframe'].includes(tag)), [], payload);
    assert.deepEqual(result.handlers, [], payload);
    assert.equal(result.isPwned, false, payload);
  }
  assert.equal(await rendered('<script>alert(1)</script>'), '&lt;script&gt;alert(1)&lt;/script&gt;');
  assert.equal(await rendered('## Title <img src=x onerror="x">'), '<h2>Title &lt;img src=x onerror="x"&gt;</h2>');
});

test('text still streaming in renders at every length: an open fence is code so far, a half-written mark plain text', async () => {
  const answer = 'Here:\n```js\nconst a = 1;\n```\nthen **bold** and [the docs](https://example.com).\n\n| a |\n| - |\n| 1 |';
  const prefixes = Array.from({ length: answer.length }, (_, i) => answer.slice(0, i + 1));
  for (const prefix of prefixes) assert.notEqual(await rendered(prefix), '', JSON.stringify(prefix));
  assert.match(await rendered(answer), /<\/code><\/pre><\/div>\n<p>then <strong>bold<\/strong>/);
  assert.match(await rendered('Here:\n```js\nconst a'), /<pre><code data-lang="js">const a<\/code><\/pre>/);
  assert.equal(await rendered('so **impor'), '<p>so **impor</p>');
});

test('a code block\'s copy button copies its code', async () => {
  const clipboard = await page.evaluate(async () => {
    const { renderMarkdown } = (await import('/markdown.js' as string)) as { renderMarkdown(text: string): DocumentFragment };
    const holder = document.createElement('div');
    holder.className = 'markdown';
    holder.appendChild(renderMarkdown('```js\nconst x = "<b>";\n```'));
    document.querySelector('#messages')?.appendChild(holder);
    (holder.querySelector('.copy-code') as HTMLButtonElement).click();
    await new Promise((resolve) => setTimeout(resolve, 100));
    holder.remove();
    return navigator.clipboard.readText();
  });
  assert.equal(clipboard, 'const x = "<b>";');
});
