/**
 * The interactive chat of `swiftlet infer`: read a message, stream the answer, keep the turns
 * as history for the next one. stdout carries the conversation (`<<< ` prompts and answers);
 * notices go to stderr. Ctrl-C stops the answer being written (its engine request is
 * aborted); at an empty prompt it ends the session, as does end of input or `/exit`.
 * Works the same on a terminal and on piped input (where Ctrl-C arrives as SIGINT).
 */
import { createInterface, type Interface } from 'node:readline';
import type { History, InferBackend, RequestConfig } from '../../llm/types.js';
import { MultilineInput } from './multiline.js';

export interface ChatSessionOptions {
  backend: InferBackend;
  config: RequestConfig;
  /** The starting system prompt; undefined: the chat template's default. */
  system?: string;
  /** Print each answer as it is generated (default) or whole at the end. */
  stream?: boolean;
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
  notices: NodeJS.WritableStream;
  /** Also take Ctrl-C as the process's SIGINT (what piped input gets); default true. */
  handleProcessSignal?: boolean;
}

export const PROMPT = '<<< ';
export const CONTINUATION_PROMPT = '... ';
export const STOPPED_MARK = '[stopped]';

export const CHAT_HELP = [
  'commands: /clear forgets the conversation, /system TEXT sets the system prompt (/system alone: the default),',
  '          /exit quits, /help shows this. A line ending in \\ continues on the next line; """ starts a block',
  '          of lines that ends at a line ending in """. Ctrl-C stops an answer; at an empty prompt it quits.',
].join('\n');

/** Lines from readline, queued, so none is lost while an answer is being written. */
class LineQueue {
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private isClosed = false;

  constructor(rl: Interface) {
    rl.on('line', (line) => {
      if (this.waiter) {
        const resolve = this.waiter;
        this.waiter = null;
        resolve(line);
      } else this.lines.push(line);
    });
    rl.on('close', () => {
      this.isClosed = true;
      this.waiter?.(null);
      this.waiter = null;
    });
  }

  get hasBuffered(): boolean {
    return this.lines.length > 0;
  }

  /** The next line; null once input has ended and every line was taken. */
  next(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

export class ChatSession {
  history: History = [];
  system: string | undefined;
  private readonly multiline = new MultilineInput();
  private answering: AbortController | null = null;
  private rl: Interface | null = null;
  private isQuitting = false;

  constructor(private readonly options: ChatSessionOptions) {
    this.system = options.system;
  }

  /** Runs until /exit, end of input or Ctrl-C at an empty prompt; resolves to the exit code. */
  async run(): Promise<number> {
    const { input, output } = this.options;
    const rl = createInterface({ input, output, terminal: input.isTTY === true, historySize: 1000 });
    this.rl = rl;
    const lines = new LineQueue(rl);
    const interrupt = () => this.interrupt();
    rl.on('SIGINT', interrupt);
    const handleSignal = this.options.handleProcessSignal ?? true;
    if (handleSignal) process.on('SIGINT', interrupt);
    try {
      for (;;) {
        rl.setPrompt(this.multiline.isPending ? CONTINUATION_PROMPT : PROMPT);
        rl.prompt();
        const line = await lines.next();
        if (line === null || this.isQuitting) break;
        const result = this.multiline.feed(line);
        if (result.kind === 'more') continue;
        if (result.text.startsWith('/')) {
          if (!this.command(result.text)) break;
          continue;
        }
        if (result.text.trim() === '') continue;
        await this.answer(result.text);
      }
      if (input.isTTY) output.write('\n');
      return 0;
    } finally {
      if (handleSignal) process.off('SIGINT', interrupt);
      this.answering?.abort();
      rl.close();
      this.rl = null;
    }
  }

  /** Ctrl-C: stop the answer; else drop a half-typed message; else quit. */
  interrupt(): void {
    if (this.answering !== null) {
      this.answering.abort();
      return;
    }
    const rl = this.rl;
    const isTerminal = rl !== null && rl.terminal;
    if (this.multiline.isPending || (isTerminal && rl.line !== '')) {
      this.multiline.reset();
      // NOTE: Ctrl-U on the readline clears what was typed, as a shell's Ctrl-C does.
      if (isTerminal) rl.write(null, { ctrl: true, name: 'u' });
      this.options.output.write('^C\n');
      rl?.setPrompt(PROMPT);
      rl?.prompt();
      return;
    }
    this.isQuitting = true;
    rl?.close();
  }

  /** A `/command`; false when the session should end. */
  private command(text: string): boolean {
    const [name = '', ...rest] = text.slice(1).split(/\s+/);
    const argument = text.slice(1 + name.length).trim();
    const say = (message: string) => this.options.notices.write(`${message}\n`);
    switch (name) {
      case 'exit':
      case 'quit':
        return false;
      case 'clear':
        this.history = [];
        say('(conversation cleared)');
        return true;
      case 'system':
        this.system = argument === '' ? undefined : argument;
        say(this.system === undefined ? "(system prompt: the template's default)" : `(system prompt: ${this.system})`);
        return true;
      case 'help':
        say(CHAT_HELP);
        return true;
      default:
        say(`unknown command /${name}${rest.length > 0 ? ' ...' : ''} (try /help; start a message with a space to send a leading /)`);
        return true;
    }
  }

  private async answer(query: string): Promise<void> {
    const { backend, config, output, notices } = this.options;
    const isStreaming = this.options.stream ?? true;
    const controller = new AbortController();
    this.answering = controller;
    let response = '';
    let wasStopped = false;
    try {
      const request = { query, history: this.history, ...(this.system !== undefined ? { system: this.system } : {}) };
      for await (const chunk of backend.inferStream(request, { ...config, signal: controller.signal })) {
        response = chunk.response;
        if (isStreaming) output.write(chunk.delta);
        if (chunk.finishReason === 'abort') wasStopped = true;
      }
      if (!isStreaming) output.write(response);
      output.write(wasStopped ? `\n${STOPPED_MARK}\n\n` : '\n\n');
      // NOTE: a stopped answer stays in the history as far as it got, as it was shown.
      this.history.push([query, response]);
    } catch (error) {
      if (response !== '') output.write('\n');
      notices.write(`error: ${(error as Error).message}${/context/.test((error as Error).message) ? ' (/clear starts over)' : ''}\n`);
    } finally {
      this.answering = null;
    }
  }
}
