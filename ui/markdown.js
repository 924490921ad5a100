// @ts-check
/**
 * Model answers as DOM: `marked` (GFM: tables, strike, bare URLs; a single newline is a line
 * break, as in chat) turns the text into HTML, DOMPurify sanitises it, and the result is
 * returned as a fragment. Both libraries are served by our own server from node_modules under
 * /vendor/ (see src/server/ui-route.ts), so the page works offline and loads nothing foreign.
 *
 * NOTE: three layers keep model output from running or navigating the page: the renderer below
 * writes raw HTML and images as visible text and links only for http(s)/mailto URLs, DOMPurify
 * removes anything executable that slips through, and the page's CSP refuses inline script.
 * A streaming answer is re-rendered whole as it grows; marked closes an unfinished fence or
 * emphasis on its own, so partial text renders as well as it can and settles as more arrives.
 */
import { Marked, Renderer } from './vendor/marked.js';
import DOMPurify from './vendor/dompurify.js';

const SAFE_URL_RE = /^(?:https?:\/\/|mailto:)/i;

/** @param {string} text */
function escapeHtml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    /** Raw HTML in an answer is shown, not interpreted. */
    html({ text }) {
      return escapeHtml(text);
    },
    /** Images would fetch from the server (the CSP blocks the rest); show their alt text. */
    image({ text }) {
      return escapeHtml(text);
    },
    link({ href, tokens }) {
      const label = this.parser.parseInline(tokens);
      return SAFE_URL_RE.test(href) ? `<a href="${escapeHtml(href)}">${label}</a>` : label;
    },
    /** A fenced block with a header naming its language (`renderMarkdown` adds the copy button). */
    code({ text, lang }) {
      const language = (lang ?? '').match(/^\S*/)?.[0] ?? '';
      const dataLang = language ? ` data-lang="${escapeHtml(language)}"` : '';
      return (
        `<div class="code-block"><div class="code-head"><span class="code-lang">${escapeHtml(language || 'code')}</span></div>` +
        `<pre><code${dataLang}>${escapeHtml(text)}</code></pre></div>\n`
      );
    },
    /** Wide tables scroll inside their own box rather than widening the message. */
    table(token) {
      return `<div class="table-wrap">${Renderer.prototype.table.call(this, token)}</div>`;
    },
  },
});

const SANITIZE = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'img', 'svg', 'math', 'iframe'],
  FORBID_ATTR: ['style'],
};

/** Markdown text as sanitised DOM nodes, ready to append. @param {string} text @returns {DocumentFragment} */
export function renderMarkdown(text) {
  const html = /** @type {string} */ (marked.parse(text, { async: false }));
  const fragment = /** @type {DocumentFragment} */ (/** @type {unknown} */ (DOMPurify.sanitize(html, SANITIZE)));
  for (const anchor of fragment.querySelectorAll('a[href]')) {
    anchor.setAttribute('target', '_blank');
    anchor.setAttribute('rel', 'noopener noreferrer nofollow');
  }
  for (const head of fragment.querySelectorAll('.code-head')) head.appendChild(copyButton());
  return fragment;
}

/** A code block's copy button, wired by app.js through event delegation (`.copy-code`). */
function copyButton() {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'copy-code';
  button.title = 'Copy code';
  button.textContent = 'Copy';
  return button;
}
