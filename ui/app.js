// @ts-check
/**
 * The chat page: a conversation kept here and sent whole as `messages` with each question,
 * answers streamed from /v1/chat/completions and rendered as markdown as they arrive. Settings
 * (system prompt, sampling, model) live in localStorage; the API key only for the tab's session.
 */
import { ApiError, listModels, streamChat } from './api.js';
import { renderMarkdown } from './markdown.js';

/**
 * @typedef {{
 *   role: 'user' | 'assistant',
 *   content: string,
 *   state: 'streaming' | 'done' | 'stopped' | 'error',
 *   model?: string,
 *   error?: string,
 *   finishReason?: string,
 *   usage?: { prompt_tokens: number, completion_tokens: number },
 *   seconds?: number,
 *   firstTokenSeconds?: number,
 *   el: HTMLElement,
 *   body: HTMLElement,
 * }} Turn
 */

const SETTINGS_KEY = 'swiftlet.chat.settings';
const API_KEY_KEY = 'swiftlet.chat.apiKey';
/** Pixels from the bottom within which the view keeps following a streaming answer. */
const FOLLOW_SLACK = 96;

/** @template {HTMLElement} T @param {string} id @returns {T} */
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return /** @type {T} */ (node);
}

const ui = {
  app: byId('app'),
  messages: byId('messages'),
  empty: byId('empty'),
  emptyModel: byId('empty-model'),
  notice: byId('notice'),
  composer: /** @type {HTMLFormElement} */ (byId('composer')),
  input: /** @type {HTMLTextAreaElement} */ (byId('input')),
  send: /** @type {HTMLButtonElement} */ (byId('send')),
  stop: /** @type {HTMLButtonElement} */ (byId('stop')),
  clear: /** @type {HTMLButtonElement} */ (byId('clear')),
  model: /** @type {HTMLSelectElement} */ (byId('model')),
  system: /** @type {HTMLTextAreaElement} */ (byId('system')),
  temperature: /** @type {HTMLInputElement} */ (byId('temperature')),
  topP: /** @type {HTMLInputElement} */ (byId('top-p')),
  maxTokens: /** @type {HTMLInputElement} */ (byId('max-tokens')),
  apiKey: /** @type {HTMLInputElement} */ (byId('api-key')),
  toggleSettings: /** @type {HTMLButtonElement} */ (byId('toggle-settings')),
  scrim: byId('scrim'),
  serverInfo: byId('server-info'),
};

/** @type {Turn[]} */
let turns = [];
/** The answer being streamed, and how to stop it. @type {{ turn: Turn, controller: AbortController } | null} */
let active = null;
let savedModel = '';

// ---- settings ----------------------------------------------------------------------------

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}');
    ui.system.value = saved.system ?? '';
    ui.temperature.value = saved.temperature ?? '';
    ui.topP.value = saved.topP ?? '';
    ui.maxTokens.value = saved.maxTokens ?? '';
    savedModel = saved.model ?? '';
    ui.apiKey.value = sessionStorage.getItem(API_KEY_KEY) ?? '';
  } catch {
    // NOTE: storage can be unavailable (private windows, file policies); defaults then.
  }
}

function saveSettings() {
  try {
    const settings = {
      system: ui.system.value,
      temperature: ui.temperature.value,
      topP: ui.topP.value,
      maxTokens: ui.maxTokens.value,
      model: ui.model.value || savedModel,
    };
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    sessionStorage.setItem(API_KEY_KEY, ui.apiKey.value);
  } catch {
    // see loadSettings
  }
}

/** A number field's value, or undefined when empty (the server's default then). @param {HTMLInputElement} input */
function numberOf(input) {
  const text = input.value.trim();
  if (text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Sampling fields for the request; the server judges their ranges and says what is wrong. */
function samplingParams() {
  /** @type {Record<string, number>} */
  const params = {};
  const temperature = numberOf(ui.temperature);
  const topP = numberOf(ui.topP);
  const maxTokens = numberOf(ui.maxTokens);
  if (temperature !== undefined) params['temperature'] = temperature;
  if (topP !== undefined) params['top_p'] = topP;
  if (maxTokens !== undefined) params['max_tokens'] = maxTokens;
  return params;
}

// ---- models ------------------------------------------------------------------------------

/** @param {string} message */
function showNotice(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = message === '';
}

async function refreshModels() {
  try {
    const models = await listModels(ui.apiKey.value.trim());
    const current = ui.model.value || savedModel;
    ui.model.replaceChildren(
      ...models.map((model) => {
        const option = document.createElement('option');
        option.value = model.id;
        option.textContent = model.parent ? `${model.id} · LoRA` : model.id;
        return option;
      }),
    );
    if (models.some((model) => model.id === current)) ui.model.value = current;
    const base = models.find((model) => !model.parent);
    if (base?.max_model_len) ui.serverInfo.textContent = `${base.id} · context ${base.max_model_len} tokens`;
    updateEmptyState();
    showNotice('');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof ApiError && error.status === 401 ? ' Enter the API key in Settings.' : '';
    showNotice(`Could not list the models: ${message}${hint}`);
  }
}

function updateEmptyState() {
  ui.emptyModel.textContent = ui.model.value || 'the model';
  ui.empty.hidden = turns.length > 0;
}

// ---- conversation ------------------------------------------------------------------------

/** @param {string} tag @param {string} className @param {string} [text] */
function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {string} label @param {string} className @param {() => void} onClick */
function actionButton(label, className, onClick) {
  const button = /** @type {HTMLButtonElement} */ (element('button', `msg-action ${className}`, label));
  button.type = 'button';
  button.addEventListener('click', onClick);
  return button;
}

/** @param {'user' | 'assistant'} role @param {string} content @param {string} [model] @returns {Turn} */
function addTurn(role, content, model) {
  const el = element('article', `msg msg-${role}`);
  const body = element('div', role === 'user' ? 'msg-body' : 'msg-body markdown');
  /** @type {Turn} */
  const turn = { role, content, state: role === 'user' ? 'done' : 'streaming', model, el, body };
  if (role === 'assistant') {
    const head = element('div', 'msg-head');
    head.append(element('span', 'avatar', 'AI'), element('span', 'msg-model', model ?? ''));
    el.append(head, body, element('div', 'msg-error'), element('div', 'msg-foot'));
  } else {
    el.append(body);
  }
  turns.push(turn);
  ui.messages.appendChild(el);
  updateEmptyState();
  renderTurn(turn);
  return turn;
}

/** The answer's figures, one span each (`.msg-stats` puts the separators between them). @param {Turn} turn */
function renderStats(turn) {
  const stats = element('span', 'msg-stats');
  /** @param {string} className @param {string} text */
  const add = (className, text) => stats.appendChild(element('span', className, text));
  if (turn.usage) add('stat-tokens', `${turn.usage.completion_tokens} tokens`);
  if (turn.seconds !== undefined) add('stat-time', `${turn.seconds.toFixed(1)} s`);
  if (turn.usage && turn.seconds && turn.firstTokenSeconds !== undefined && turn.usage.completion_tokens > 1) {
    const rate = (turn.usage.completion_tokens - 1) / Math.max(turn.seconds - turn.firstTokenSeconds, 1e-3);
    add('stat-rate', `${rate.toFixed(rate < 10 ? 1 : 0)} tok/s`);
  }
  if (turn.state === 'stopped') add('stat-end', 'stopped');
  else if (turn.finishReason === 'length') add('stat-end', 'reached max tokens');
  else if (turn.finishReason === 'abort') add('stat-end', 'aborted by the server');
  return stats;
}

/** @param {Turn} turn */
function renderTurn(turn) {
  turn.el.dataset['state'] = turn.state;
  if (turn.role === 'user') {
    turn.body.textContent = turn.content;
    return;
  }
  const isFollowing = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < FOLLOW_SLACK;
  turn.body.replaceChildren(renderMarkdown(turn.content));
  if (turn.state === 'streaming') turn.body.appendChild(element('span', 'cursor'));
  turn.body.hidden = turn.content === '' && turn.state !== 'streaming';
  const error = /** @type {HTMLElement} */ (turn.el.querySelector('.msg-error'));
  error.textContent = turn.error ?? '';
  error.hidden = !turn.error;
  const foot = /** @type {HTMLElement} */ (turn.el.querySelector('.msg-foot'));
  if (turn.state === 'streaming') {
    foot.replaceChildren();
  } else {
    const actions = [];
    if (turn.content !== '') actions.push(actionButton('Copy', 'copy-answer', () => copyWithFeedback(turn.content, /** @type {HTMLButtonElement} */ (foot.querySelector('.copy-answer')))));
    if (turn === turns[turns.length - 1]) actions.push(actionButton(turn.state === 'error' ? 'Retry' : 'Regenerate', 'regenerate', regenerate));
    foot.replaceChildren(...actions, renderStats(turn));
  }
  if (isFollowing) ui.messages.scrollTop = ui.messages.scrollHeight;
}

/** Re-renders at most once a frame while tokens stream in. */
const pendingRenders = new Set();
/** @param {Turn} turn */
function scheduleRender(turn) {
  if (pendingRenders.has(turn)) return;
  pendingRenders.add(turn);
  requestAnimationFrame(() => {
    pendingRenders.delete(turn);
    renderTurn(turn);
  });
}

/**
 * The conversation as OpenAI messages. NOTE: an exchange whose answer failed or is empty is
 * left out whole, so user and assistant turns still alternate (many chat templates insist).
 */
function conversationMessages() {
  /** @type {{ role: string, content: string }[]} */
  const messages = [];
  const system = ui.system.value.trim();
  if (system !== '') messages.push({ role: 'system', content: system });
  turns.forEach((turn, index) => {
    if (turn.role !== 'user') return;
    const answer = turns[index + 1];
    if (answer === undefined) messages.push({ role: 'user', content: turn.content });
    else if (answer.state !== 'error' && answer.state !== 'streaming' && answer.content !== '') {
      messages.push({ role: 'user', content: turn.content }, { role: 'assistant', content: answer.content });
    }
  });
  return messages;
}

function setBusy() {
  const isBusy = active !== null;
  ui.send.hidden = isBusy;
  ui.stop.hidden = !isBusy;
  ui.app.classList.toggle('is-busy', isBusy);
}

/** Streams an answer to the conversation as it stands (its last turn is the user's). */
async function answer() {
  const messages = conversationMessages();
  const model = ui.model.value || undefined;
  const turn = addTurn('assistant', '', model);
  const controller = new AbortController();
  active = { turn, controller };
  setBusy();
  const started = performance.now();
  try {
    const body = { ...(model ? { model } : {}), messages, ...samplingParams() };
    for await (const event of streamChat(body, { apiKey: ui.apiKey.value.trim(), signal: controller.signal })) {
      if (event.delta !== undefined) {
        turn.firstTokenSeconds ??= (performance.now() - started) / 1000;
        turn.content += event.delta;
        scheduleRender(turn);
      }
      if (event.finishReason !== undefined) turn.finishReason = event.finishReason;
      if (event.usage !== undefined) turn.usage = event.usage;
    }
    turn.state = 'done';
  } catch (error) {
    if (controller.signal.aborted) {
      turn.state = 'stopped';
    } else {
      turn.state = 'error';
      const message = error instanceof Error ? error.message : String(error);
      turn.error = error instanceof ApiError ? message : `Could not reach the server: ${message}`;
    }
  } finally {
    turn.seconds = (performance.now() - started) / 1000;
    if (active?.turn === turn) active = null;
    setBusy();
    renderTurn(turn);
  }
}

async function sendMessage() {
  const text = ui.input.value;
  if (active !== null || text.trim() === '') return;
  ui.input.value = '';
  autosize();
  const previous = turns[turns.length - 1];
  addTurn('user', text.trim());
  if (previous) renderTurn(previous);
  await answer();
}

function stop() {
  active?.controller.abort();
}

async function regenerate() {
  if (active !== null) return;
  const last = turns[turns.length - 1];
  if (!last || last.role !== 'assistant') return;
  turns.pop();
  last.el.remove();
  await answer();
}

function clearConversation() {
  stop();
  turns = [];
  for (const node of [...ui.messages.children]) if (node !== ui.empty) node.remove();
  updateEmptyState();
  ui.input.focus();
}

// ---- copying -----------------------------------------------------------------------------

/** @param {string} text */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // NOTE: the Clipboard API needs a secure context (not http://<LAN address>); the old way then.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    const isCopied = document.execCommand('copy');
    area.remove();
    return isCopied;
  }
}

/** @param {string} text @param {HTMLButtonElement | null} button */
async function copyWithFeedback(text, button) {
  const isCopied = await copyText(text);
  if (!button) return;
  const label = button.textContent;
  button.textContent = isCopied ? 'Copied' : 'Copy failed';
  button.classList.add('is-flashed');
  setTimeout(() => {
    button.textContent = label;
    button.classList.remove('is-flashed');
  }, 1500);
}

// ---- wiring ------------------------------------------------------------------------------

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
}

/** @param {boolean} isOpen */
function setSettingsOpen(isOpen) {
  ui.app.classList.toggle('settings-open', isOpen);
  ui.toggleSettings.setAttribute('aria-expanded', String(isOpen));
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  void sendMessage();
});
ui.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    void sendMessage();
  }
});
ui.input.addEventListener('input', autosize);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    if (active) stop();
    else setSettingsOpen(false);
  }
});
ui.stop.addEventListener('click', stop);
ui.clear.addEventListener('click', clearConversation);
ui.messages.addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('.copy-code');
  const code = button?.closest('.code-block')?.querySelector('pre code');
  if (button && code) void copyWithFeedback(code.textContent ?? '', /** @type {HTMLButtonElement} */ (button));
});
for (const field of [ui.system, ui.temperature, ui.topP, ui.maxTokens, ui.model]) field.addEventListener('change', saveSettings);
ui.model.addEventListener('change', updateEmptyState);
ui.apiKey.addEventListener('change', () => {
  saveSettings();
  void refreshModels();
});
ui.toggleSettings.addEventListener('click', () => setSettingsOpen(!ui.app.classList.contains('settings-open')));
ui.scrim.addEventListener('click', () => setSettingsOpen(false));

loadSettings();
setBusy();
updateEmptyState();
void refreshModels();
ui.input.focus();
