// @ts-check
/**
 * A small markdown renderer for model answers, in two steps: `parseMarkdown` turns text into a
 * plain tree (no DOM, so Node can test it), `renderMarkdown` turns the tree into DOM nodes with
 * createElement / textContent only. NOTE: model text never reaches innerHTML, and a link becomes
 * an anchor only for http(s) and mailto URLs, so nothing a model writes can run or navigate
 * the page. Text that is still streaming in (an unclosed fence, a half-written `**`) renders
 * as well as it can and settles as more arrives.
 *
 * Blocks: paragraphs (a single newline is a line break, as in chat), ATX headings, fenced code,
 * bullet and numbered lists (nested by indentation), block quotes, rules, GFM tables.
 * Inline: code spans, **strong**, *em*, ~~strike~~, [links](url), bare http(s) URLs, escapes.
 */

/**
 * @typedef {{ type: 'text', text: string }
 *   | { type: 'code', text: string }
 *   | { type: 'br' }
 *   | { type: 'strong' | 'em' | 'del', children: Inline[] }
 *   | { type: 'link', href: string, children: Inline[] }} Inline
 * @typedef {{ type: 'paragraph', children: Inline[] }
 *   | { type: 'heading', level: number, children: Inline[] }
 *   | { type: 'codeblock', lang: string, text: string, isClosed: boolean }
 *   | { type: 'list', ordered: boolean, start: number, items: Block[][] }
 *   | { type: 'quote', children: Block[] }
 *   | { type: 'rule' }
 *   | { type: 'table', align: ('left' | 'center' | 'right' | null)[], head: Inline[][], rows: Inline[][][] }} Block
 */

const FENCE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$/;
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE_RE = /^ {0,3}>[ \t]?/;
const LIST_RE = /^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|[ \t]*$)/;
const TABLE_SEPARATOR_RE = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const SAFE_URL_RE = /^(?:https?:\/\/|mailto:)/i;
const BARE_URL_RE = /^https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}*_~]/i;
const ESCAPABLE = '\\`*_{}[]()#+-.!|~>';

/** @param {string} line */
function isBlank(line) {
  return line.trim() === '';
}

/** Columns of leading whitespace (a tab counts 4). @param {string} line */
function indentOf(line) {
  let columns = 0;
  for (const ch of line) {
    if (ch === ' ') columns += 1;
    else if (ch === '\t') columns += 4 - (columns % 4);
    else break;
  }
  return columns;
}

/** The line without up to `columns` of leading whitespace. @param {string} line @param {number} columns */
function dedent(line, columns) {
  let i = 0;
  let seen = 0;
  while (i < line.length && seen < columns) {
    const ch = line[i];
    if (ch === ' ') seen += 1;
    else if (ch === '\t') seen += 4 - (seen % 4);
    else break;
    i++;
  }
  return line.slice(i);
}

/** Would this line start a block other than a paragraph? @param {string} line */
function startsBlock(line) {
  return FENCE_RE.test(line) || HEADING_RE.test(line) || RULE_RE.test(line) || QUOTE_RE.test(line) || LIST_RE.test(line);
}

/** Cells of a table row, split on unescaped pipes outside code spans. @param {string} line */
function splitRow(line) {
  let text = line.trim();
  if (text.startsWith('|')) text = text.slice(1);
  if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1);
  /** @type {string[]} */
  const cells = [];
  let cell = '';
  let inCode = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && text[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (ch === '`') {
      inCode = !inCode;
      cell += ch;
    } else if (ch === '|' && !inCode) {
      cells.push(cell.trim());
      cell = '';
    } else {
      cell += ch;
    }
  }
  cells.push(cell.trim());
  return cells;
}

/** @param {string[]} lines @param {number} start @returns {{ block: Block, next: number }} */
function parseFence(lines, start) {
  const match = /** @type {RegExpExecArray} */ (FENCE_RE.exec(/** @type {string} */ (lines[start])));
  const fence = /** @type {string} */ (match[1]);
  const indent = indentOf(/** @type {string} */ (lines[start]));
  const body = [];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const line = /** @type {string} */ (lines[i]);
    const trimmed = line.trim();
    if (indentOf(line) < 4 && trimmed.length >= fence.length && trimmed === (/** @type {string} */ (fence[0])).repeat(trimmed.length)) {
      return { block: { type: 'codeblock', lang: match[2] ?? '', text: body.join('\n'), isClosed: true }, next: i + 1 };
    }
    body.push(dedent(line, indent));
  }
  return { block: { type: 'codeblock', lang: match[2] ?? '', text: body.join('\n'), isClosed: false }, next: i };
}

/** @param {string[]} lines @param {number} start @returns {{ block: Block, next: number }} */
function parseList(lines, start) {
  const first = /** @type {RegExpExecArray} */ (LIST_RE.exec(/** @type {string} */ (lines[start])));
  const baseIndent = indentOf(first[1] ?? '');
  const ordered = /\d/.test(first[2] ?? '');
  /** @type {Block[][]} */
  const items = [];
  let i = start;
  while (i < lines.length) {
    const match = LIST_RE.exec(/** @type {string} */ (lines[i]));
    if (!match || indentOf(match[1] ?? '') > baseIndent + 1 || indentOf(match[1] ?? '') < baseIndent) break;
    if (/\d/.test(match[2] ?? '') !== ordered) break;
    const contentIndent = indentOf(match[1] ?? '') + (match[2] ?? '').length + 1;
    const itemLines = [match[3] ?? ''];
    let sawBlank = false;
    i++;
    for (; i < lines.length; i++) {
      const line = /** @type {string} */ (lines[i]);
      if (isBlank(line)) {
        sawBlank = true;
        itemLines.push('');
        continue;
      }
      const indent = indentOf(line);
      if (indent >= contentIndent || (indent > baseIndent + 1 && !sawBlank)) {
        itemLines.push(dedent(line, Math.min(indent, contentIndent)));
        sawBlank = false;
        continue;
      }
      // NOTE: a lazy continuation (unindented text right after the item) belongs to the item.
      if (!sawBlank && !startsBlock(line)) {
        itemLines.push(line.trim());
        continue;
      }
      break;
    }
    while (itemLines.length > 0 && isBlank(/** @type {string} */ (itemLines[itemLines.length - 1]))) itemLines.pop();
    items.push(parseBlocks(itemLines));
    // Blank lines between items keep the list going; anything else at this depth ends it.
    let peek = i;
    while (peek < lines.length && isBlank(/** @type {string} */ (lines[peek]))) peek++;
    if (peek > i) {
      const next = peek < lines.length ? LIST_RE.exec(/** @type {string} */ (lines[peek])) : null;
      if (!next || indentOf(next[1] ?? '') !== baseIndent || /\d/.test(next[2] ?? '') !== ordered) break;
      i = peek;
    }
  }
  const start0 = ordered ? Number.parseInt(first[2] ?? '1', 10) : 1;
  return { block: { type: 'list', ordered, start: start0, items }, next: i };
}

/** @param {string[]} lines @returns {Block[]} */
function parseBlocks(lines) {
  /** @type {Block[]} */
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = /** @type {string} */ (lines[i]);
    if (isBlank(line)) {
      i++;
      continue;
    }
    if (FENCE_RE.test(line)) {
      const { block, next } = parseFence(lines, i);
      blocks.push(block);
      i = next;
      continue;
    }
    const heading = HEADING_RE.exec(line);
    if (heading) {
      blocks.push({ type: 'heading', level: (heading[1] ?? '#').length, children: parseInline(heading[2] ?? '') });
      i++;
      continue;
    }
    if (RULE_RE.test(line)) {
      blocks.push({ type: 'rule' });
      i++;
      continue;
    }
    if (QUOTE_RE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE_RE.test(/** @type {string} */ (lines[i]))) {
        inner.push(/** @type {string} */ (lines[i]).replace(QUOTE_RE, ''));
        i++;
      }
      blocks.push({ type: 'quote', children: parseBlocks(inner) });
      continue;
    }
    if (LIST_RE.test(line)) {
      const { block, next } = parseList(lines, i);
      blocks.push(block);
      i = next;
      continue;
    }
    const separator = lines[i + 1];
    if (line.includes('|') && separator !== undefined && TABLE_SEPARATOR_RE.test(separator) && separator.includes('-')) {
      const head = splitRow(line);
      const align = splitRow(separator).map((cell) => {
        const left = cell.startsWith(':');
        const right = cell.endsWith(':');
        return left && right ? 'center' : right ? 'right' : left ? 'left' : null;
      });
      const rows = [];
      i += 2;
      while (i < lines.length && !isBlank(/** @type {string} */ (lines[i])) && /** @type {string} */ (lines[i]).includes('|')) {
        rows.push(splitRow(/** @type {string} */ (lines[i])).map(parseInline));
        i++;
      }
      blocks.push({ type: 'table', align: /** @type {('left' | 'center' | 'right' | null)[]} */ (align), head: head.map(parseInline), rows });
      continue;
    }
    const paragraph = [line.trim()];
    i++;
    while (i < lines.length && !isBlank(/** @type {string} */ (lines[i])) && !startsBlock(/** @type {string} */ (lines[i]))) {
      paragraph.push(/** @type {string} */ (lines[i]).trim());
      i++;
    }
    blocks.push({ type: 'paragraph', children: parseInline(paragraph.join('\n')) });
  }
  return blocks;
}

/** @param {string} text @returns {Block[]} */
export function parseMarkdown(text) {
  return parseBlocks(text.replace(/\r\n?/g, '\n').split('\n'));
}

/** @param {string | undefined} ch */
function isSpace(ch) {
  return ch === undefined || /\s/.test(ch);
}

/** @param {string | undefined} ch */
function isWordChar(ch) {
  return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
}

/**
 * Where the emphasis opened by `marker` at `start` closes, or -1. The closing run must follow
 * a non-space; a `_` must also not touch a letter outside (snake_case stays as it is).
 * @param {string} text @param {number} start @param {string} marker
 */
function findClosing(text, start, marker) {
  const open = start + marker.length;
  if (isSpace(text[open])) return -1;
  if (marker[0] === '_' && isWordChar(text[start - 1])) return -1;
  let from = open + 1;
  while (from <= text.length) {
    let j = text.indexOf(marker, from);
    if (j === -1) return -1;
    // NOTE: `***a***` closes its `**` on the last two stars, leaving `*a*` inside.
    while (marker.length === 2 && text[j + 2] === marker[0]) j++;
    const isSingleInsideDouble = marker.length === 1 && (text[j + 1] === marker || text[j - 1] === marker);
    if (!isSpace(text[j - 1]) && !isSingleInsideDouble && !(marker[0] === '_' && isWordChar(text[j + marker.length]))) return j;
    from = j + 1;
  }
  return -1;
}

/** @param {string} text @returns {Inline[]} */
export function parseInline(text) {
  /** @type {Inline[]} */
  const out = [];
  let buffer = '';
  const flush = () => {
    if (buffer !== '') out.push({ type: 'text', text: buffer });
    buffer = '';
  };
  let i = 0;
  while (i < text.length) {
    const ch = /** @type {string} */ (text[i]);
    const rest = text.slice(i);
    if (ch === '\\' && i + 1 < text.length && ESCAPABLE.includes(/** @type {string} */ (text[i + 1]))) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === '\n') {
      flush();
      out.push({ type: 'br' });
      i++;
      continue;
    }
    if (ch === '`') {
      const run = /** @type {string} */ ((/^`+/.exec(rest) ?? [''])[0]);
      const close = new RegExp(`(?<!\`)${run}(?!\`)`, 'g');
      close.lastIndex = i + run.length;
      const found = close.exec(text);
      if (found) {
        let code = text.slice(i + run.length, found.index).replace(/\n/g, ' ');
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
        flush();
        out.push({ type: 'code', text: code });
        i = found.index + run.length;
      } else {
        buffer += run;
        i += run.length;
      }
      continue;
    }
    if (ch === '*' || ch === '_' || (ch === '~' && text[i + 1] === '~')) {
      const isDouble = text[i + 1] === ch;
      /** @type {[string, 'strong' | 'em' | 'del'][]} */
      const tries = ch === '~' ? [['~~', 'del']] : isDouble ? [[ch + ch, 'strong'], [ch, 'em']] : [[ch, 'em']];
      let isDone = false;
      for (const [marker, type] of tries) {
        const j = findClosing(text, i, marker);
        if (j === -1) continue;
        flush();
        out.push({ type, children: parseInline(text.slice(i + marker.length, j)) });
        i = j + marker.length;
        isDone = true;
        break;
      }
      if (isDone) continue;
      const run = /** @type {string} */ ((new RegExp(`^\\${ch}+`).exec(rest) ?? [ch])[0]);
      buffer += run;
      i += run.length;
      continue;
    }
    if (ch === '[' || (ch === '!' && text[i + 1] === '[')) {
      const link = /^!?\[((?:\\.|[^\]\\])*)\]\(\s*<?([^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/.exec(rest);
      if (link) {
        flush();
        const label = link[1] ?? '';
        const href = link[2] ?? '';
        const children = parseInline(label === '' ? href : label);
        if (SAFE_URL_RE.test(href)) out.push({ type: 'link', href, children });
        else out.push(...children);
        i += link[0].length;
        continue;
      }
    }
    if ((ch === 'h' || ch === 'H') && !isWordChar(text[i - 1])) {
      const url = BARE_URL_RE.exec(rest);
      if (url) {
        flush();
        out.push({ type: 'link', href: url[0], children: [{ type: 'text', text: url[0] }] });
        i += url[0].length;
        continue;
      }
    }
    buffer += ch;
    i++;
  }
  flush();
  return out;
}

/**
 * @param {string} tag
 * @param {string} [className]
 * @returns {HTMLElement}
 */
function element(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** @param {Node} parent @param {Inline[]} inlines */
function appendInline(parent, inlines) {
  for (const inline of inlines) {
    if (inline.type === 'text') parent.appendChild(document.createTextNode(inline.text));
    else if (inline.type === 'br') parent.appendChild(element('br'));
    else if (inline.type === 'code') {
      const code = element('code');
      code.textContent = inline.text;
      parent.appendChild(code);
    } else if (inline.type === 'link') {
      const anchor = /** @type {HTMLAnchorElement} */ (element('a'));
      anchor.setAttribute('href', inline.href);
      anchor.setAttribute('target', '_blank');
      anchor.setAttribute('rel', 'noopener noreferrer nofollow');
      appendInline(anchor, inline.children);
      parent.appendChild(anchor);
    } else {
      const node = element(inline.type === 'strong' ? 'strong' : inline.type === 'em' ? 'em' : 'del');
      appendInline(node, inline.children);
      parent.appendChild(node);
    }
  }
}

/**
 * A fenced code block with its header: the language and a copy button (`.copy-code`, wired by
 * the page through event delegation).
 * @param {{ lang: string, text: string, isClosed: boolean }} block
 */
function codeBlock(block) {
  const wrap = element('div', 'code-block');
  const head = element('div', 'code-head');
  const lang = element('span', 'code-lang');
  lang.textContent = block.lang || 'code';
  const copy = element('button', 'copy-code');
  copy.setAttribute('type', 'button');
  copy.setAttribute('title', 'Copy code');
  copy.textContent = 'Copy';
  head.append(lang, copy);
  const pre = element('pre');
  const code = element('code');
  if (block.lang) code.dataset['lang'] = block.lang;
  code.textContent = block.text;
  pre.appendChild(code);
  wrap.append(head, pre);
  return wrap;
}

/** @param {Node} parent @param {Block[]} blocks @param {boolean} [isTight] */
function appendBlocks(parent, blocks, isTight = false) {
  for (const block of blocks) {
    switch (block.type) {
      case 'paragraph': {
        if (isTight) {
          appendInline(parent, block.children);
        } else {
          const p = element('p');
          appendInline(p, block.children);
          parent.appendChild(p);
        }
        break;
      }
      case 'heading': {
        const h = element(`h${block.level}`);
        appendInline(h, block.children);
        parent.appendChild(h);
        break;
      }
      case 'codeblock':
        parent.appendChild(codeBlock(block));
        break;
      case 'list': {
        const list = element(block.ordered ? 'ol' : 'ul');
        if (block.ordered && block.start !== 1) list.setAttribute('start', String(block.start));
        for (const item of block.items) {
          const li = element('li');
          // NOTE: an item of one paragraph (plus nested lists) renders without <p>, as a tight list.
          const numParagraphs = item.filter((child) => child.type === 'paragraph').length;
          appendBlocks(li, item, numParagraphs <= 1 && item[0]?.type === 'paragraph');
          list.appendChild(li);
        }
        parent.appendChild(list);
        break;
      }
      case 'quote': {
        const quote = element('blockquote');
        appendBlocks(quote, block.children);
        parent.appendChild(quote);
        break;
      }
      case 'rule':
        parent.appendChild(element('hr'));
        break;
      case 'table': {
        const wrap = element('div', 'table-wrap');
        const table = element('table');
        const head = element('thead');
        const headRow = element('tr');
        block.head.forEach((cell, index) => {
          const th = element('th');
          const align = block.align[index];
          if (align) th.style.textAlign = align;
          appendInline(th, cell);
          headRow.appendChild(th);
        });
        head.appendChild(headRow);
        const body = element('tbody');
        for (const row of block.rows) {
          const tr = element('tr');
          block.head.forEach((_, index) => {
            const td = element('td');
            const align = block.align[index];
            if (align) td.style.textAlign = align;
            appendInline(td, row[index] ?? []);
            tr.appendChild(td);
          });
          body.appendChild(tr);
        }
        table.append(head, body);
        wrap.appendChild(table);
        parent.appendChild(wrap);
        break;
      }
    }
  }
}

/** Markdown text as DOM nodes, ready to append. @param {string} text @returns {DocumentFragment} */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  appendBlocks(fragment, parseMarkdown(text));
  return fragment;
}
