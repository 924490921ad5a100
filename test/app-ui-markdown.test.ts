/**
 * The chat page's markdown parser (ui/markdown.js) in Node, no browser: the blocks and inline
 * marks a model writes, text that is still streaming in, and links that must not become anchors.
 * (Turning the tree into DOM is checked in Chromium by app-ui.test.ts.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './helpers/paths.js';

type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'br' }
  | { type: 'strong' | 'em' | 'del'; children: Inline[] }
  | { type: 'link'; href: string; children: Inline[] };
type Block =
  | { type: 'paragraph'; children: Inline[] }
  | { type: 'heading'; level: number; children: Inline[] }
  | { type: 'codeblock'; lang: string; text: string; isClosed: boolean }
  | { type: 'list'; ordered: boolean; start: number; items: Block[][] }
  | { type: 'quote'; children: Block[] }
  | { type: 'rule' }
  | { type: 'table'; align: (string | null)[]; head: Inline[][]; rows: Inline[][][] };

const { parseMarkdown, parseInline } = (await import(pathToFileURL(join(repoRoot, 'ui', 'markdown.js')).href)) as {
  parseMarkdown(text: string): Block[];
  parseInline(text: string): Inline[];
};

const text = (value: string): Inline => ({ type: 'text', text: value });
const paragraph = (...children: Inline[]): Block => ({ type: 'paragraph', children });

test('inline marks: strong, em, strike, code spans, escapes; snake_case and lone stars stay text', () => {
  assert.deepEqual(parseInline('**bold** *it* _it_ __bold__ ~~gone~~ `a*b*c`'), [
    { type: 'strong', children: [text('bold')] },
    text(' '),
    { type: 'em', children: [text('it')] },
    text(' '),
    { type: 'em', children: [text('it')] },
    text(' '),
    { type: 'strong', children: [text('bold')] },
    text(' '),
    { type: 'del', children: [text('gone')] },
    text(' '),
    { type: 'code', text: 'a*b*c' },
  ]);
  assert.deepEqual(parseInline('***both***'), [{ type: 'strong', children: [{ type: 'em', children: [text('both')] }] }]);
  assert.deepEqual(parseInline('max_model_len and 2 * 3 * 4 and \\*not em\\*'), [text('max_model_len and 2 * 3 * 4 and *not em*')]);
  assert.deepEqual(parseInline('``code with ` inside``'), [{ type: 'code', text: 'code with ` inside' }]);
  assert.deepEqual(parseInline('one\ntwo'), [text('one'), { type: 'br' }, text('two')]);
});

test('links: http(s) and mailto become links, anything else only its text', () => {
  assert.deepEqual(parseInline('[docs](https://example.com/a_(b)) [mail](mailto:a@b.c)'), [
    { type: 'link', href: 'https://example.com/a_(b)', children: [text('docs')] },
    text(' '),
    { type: 'link', href: 'mailto:a@b.c', children: [text('mail')] },
  ]);
  assert.deepEqual(parseInline('[click](javascript:alert(1)) [x](data:text/html,hi) ![img](/etc/passwd)'), [
    text('click'),
    text(' '),
    text('x'),
    text(' '),
    text('img'),
  ]);
  assert.deepEqual(parseInline('see https://vllm.ai/docs, then.'), [
    text('see '),
    { type: 'link', href: 'https://vllm.ai/docs', children: [text('https://vllm.ai/docs')] },
    text(', then.'),
  ]);
  assert.deepEqual(parseInline('<script>alert(1)</script>'), [text('<script>alert(1)</script>')]);
});

test('blocks: headings, paragraphs, fences, quotes, rules, tables', () => {
  const blocks = parseMarkdown(
    '# Title\n\nFirst line\nsecond line\n\n```python\ndef f():\n    return 1\n```\n\n> quoted\n> more\n\n---\n\n| a | b |\n|:--|--:|\n| `x|y` | 2 |\n',
  );
  assert.deepEqual(blocks, [
    { type: 'heading', level: 1, children: [text('Title')] },
    paragraph(text('First line'), { type: 'br' }, text('second line')),
    { type: 'codeblock', lang: 'python', text: 'def f():\n    return 1', isClosed: true },
    { type: 'quote', children: [paragraph(text('quoted'), { type: 'br' }, text('more'))] },
    { type: 'rule' },
    { type: 'table', align: ['left', 'right'], head: [[text('a')], [text('b')]], rows: [[[{ type: 'code', text: 'x|y' }], [text('2')]]] },
  ]);
});

test('lists: bullets, numbers with their start, nesting by indentation, loose items', () => {
  assert.deepEqual(parseMarkdown('- one\n- two\n  - nested\n    more\n- three'), [
    {
      type: 'list',
      ordered: false,
      start: 1,
      items: [
        [paragraph(text('one'))],
        [paragraph(text('two')), { type: 'list', ordered: false, start: 1, items: [[paragraph(text('nested'), { type: 'br' }, text('more'))]] }],
        [paragraph(text('three'))],
      ],
    },
  ]);
  assert.deepEqual(parseMarkdown('3. c\n\n4. d\n\nafter'), [
    { type: 'list', ordered: true, start: 3, items: [[paragraph(text('c'))], [paragraph(text('d'))]] },
    paragraph(text('after')),
  ]);
  assert.deepEqual(parseMarkdown('1. step\n   ```sh\n   ls\n   ```'), [
    { type: 'list', ordered: true, start: 1, items: [[paragraph(text('step')), { type: 'codeblock', lang: 'sh', text: 'ls', isClosed: true }]] },
  ]);
});

test('text still streaming in: an open fence is code so far, a half-written mark is plain text', () => {
  assert.deepEqual(parseMarkdown('Here:\n```js\nconst a'), [paragraph(text('Here:')), { type: 'codeblock', lang: 'js', text: 'const a', isClosed: false }]);
  assert.deepEqual(parseMarkdown('so **impor'), [paragraph(text('so **impor'))]);
  assert.deepEqual(parseMarkdown('see [the docs]('), [paragraph(text('see [the docs]('))]);
  assert.deepEqual(parseMarkdown('\n\n\n'), []);
});
