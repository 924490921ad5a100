/**
 * ChatGLM3 writes a tool call as Python, `tool_call(city='Paris', days=[1, 2])`, and its own code
 * `eval`s it. Here: that call's keyword arguments read as JSON values (Python literals only:
 * strings, numbers, True/False/None, lists, tuples, dicts; nothing is evaluated), and the
 * reverse, JSON values written as Python literals the way `repr` writes them.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class LiteralReader {
  private at = 0;

  constructor(private readonly text: string) {}

  /** `tool_call(k=v, ...)` to its keyword arguments; null when the text is not exactly such a call. */
  callArguments(): Record<string, Json> | null {
    try {
      this.expect('tool_call');
      this.expect('(');
      const args: Record<string, Json> = {};
      while (!this.eat(')')) {
        const name = /^[A-Za-z_]\w*/.exec(this.rest())?.[0];
        if (name === undefined) return null;
        this.at += name.length;
        this.expect('=');
        args[name] = this.value();
        if (!this.eat(',')) this.expect(')', true);
      }
      this.skipSpace();
      return this.at === this.text.length ? args : null;
    } catch {
      return null;
    }
  }

  private value(): Json {
    this.skipSpace();
    const c = this.text[this.at];
    if (c === "'" || c === '"') return this.string(c);
    if (c === '[' || c === '(') return this.sequence(c === '[' ? ']' : ')');
    if (c === '{') return this.dict();
    const word = /^(True|False|None|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)/.exec(this.rest())?.[0];
    if (word === undefined) throw new Error('not a literal');
    this.at += word.length;
    return word === 'True' ? true : word === 'False' ? false : word === 'None' ? null : Number(word);
  }

  private string(quote: string): string {
    let out = '';
    for (this.at++; this.at < this.text.length; this.at++) {
      const c = this.text[this.at] as string;
      if (c === quote) {
        this.at++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        continue;
      }
      const escaped = this.text[++this.at] ?? '';
      const hex = /^[ux]/.test(escaped) ? this.text.slice(this.at + 1, this.at + (escaped === 'u' ? 5 : 3)) : '';
      if (hex !== '') {
        out += String.fromCharCode(parseInt(hex, 16));
        this.at += hex.length;
      } else out += ({ n: '\n', t: '\t', r: '\r', '0': '\0' } as Record<string, string>)[escaped] ?? escaped;
    }
    throw new Error('unterminated string');
  }

  private sequence(close: string): Json[] {
    this.at++;
    const items: Json[] = [];
    while (!this.eat(close)) {
      items.push(this.value());
      if (!this.eat(',')) this.expect(close, true);
    }
    return items;
  }

  private dict(): Record<string, Json> {
    this.at++;
    const entries: Record<string, Json> = {};
    while (!this.eat('}')) {
      const key = this.value();
      this.expect(':');
      entries[String(key)] = this.value();
      if (!this.eat(',')) this.expect('}', true);
    }
    return entries;
  }

  private rest(): string {
    this.skipSpace();
    return this.text.slice(this.at);
  }

  private skipSpace(): void {
    while (/\s/.test(this.text[this.at] ?? '')) this.at++;
  }

  private eat(token: string): boolean {
    if (!this.rest().startsWith(token)) return false;
    this.at += token.length;
    return true;
  }

  /** `peek`: the closing token must come next but stays for the caller's loop to take. */
  private expect(token: string, peek = false): void {
    if (!this.rest().startsWith(token)) throw new Error(`expected ${token}`);
    if (!peek) this.at += token.length;
  }
}

/** The keyword arguments of `tool_call(...)`, or null when the text is not such a call of literals. */
export function toolCallArguments(code: string): Record<string, Json> | null {
  return new LiteralReader(code.trim()).callArguments();
}

/** A string as Python's repr writes it: single quotes unless it holds one and no double quote. */
function pythonString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] as string);
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

/** A JSON value as a Python literal (what `repr` prints for the value json.loads gives). */
export function pythonLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${pythonString(k)}: ${pythonLiteral(v)}`).join(', ')}}`;
}

/** `tool_call(k=v, ...)` of a call's arguments object, as ChatGLM3 writes one. */
export function toolCallCode(args: Record<string, unknown>): string {
  return `tool_call(${Object.entries(args).map(([k, v]) => `${k}=${pythonLiteral(v)}`).join(', ')})`;
}
