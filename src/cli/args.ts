/**
 * A small argv parser shaped like vLLM's: `--flag value`, `--flag=value`, boolean
 * `--flag` / `--no-flag`, list flags taking several values (`--lora-modules a=x b=y`) and
 * repeatable. SWIFT's underscore spellings (`--max_model_len`) are the same flags, and its
 * booleans may take `true`/`false` as the next word (`--merge_lora true`).
 */
import { closestWord } from './did-you-mean.js';

export type FlagKind = 'string' | 'number' | 'boolean' | 'list';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
  /** A default that is not a literal value (e.g. "the model's"), shown where `default` would be. */
  defaultText?: string;
  /** Other spellings, e.g. `-i` or a SWIFT name that differs beyond underscores. */
  aliases?: string[];
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {
  override name = 'UsageError';
}

const FALSE_WORDS: ReadonlySet<string> = new Set(['false', '0', 'no']);
const BOOLEAN_WORDS: ReadonlySet<string> = new Set([...FALSE_WORDS, 'true', '1', 'yes']);

function canonical(name: string): string {
  return name.replace(/_/g, '-');
}

export function parseFlags(argv: string[], specs: FlagSpecs): { flags: ParsedFlags; positionals: string[] } {
  const byName = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(name, name);
    for (const alias of spec.aliases ?? []) byName.set(canonical(alias.replace(/^-+/, '')), name);
  }
  const flags: ParsedFlags = {};
  const positionals: string[] = [];
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) flags[name] = spec.default;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const rawName = canonical(arg.slice(0, eq === -1 ? undefined : eq).replace(/^-+/, ''));
    const inlineValue = eq === -1 ? undefined : arg.slice(eq + 1);
    const negated = rawName.startsWith('no-') && !byName.has(rawName) ? byName.get(rawName.slice(3)) : undefined;
    const name = negated ?? byName.get(rawName);
    const spec = name ? specs[name] : undefined;
    if (!name || !spec) {
      const suggestion = closestWord(rawName, byName.keys());
      const hint = suggestion === undefined ? '' : ` (did you mean --${suggestion}?)`;
      throw new UsageError(`unknown flag ${arg.split('=')[0]}${hint}; see --help`);
    }
    if (negated) {
      if (spec.kind !== 'boolean') throw new UsageError(`--no-${name} only applies to a boolean flag`);
      flags[name] = false;
      continue;
    }
    if (spec.kind === 'boolean') {
      // NOTE: SWIFT writes booleans as a separate word (`--merge_lora true`); only those words are taken.
      const next = argv[i + 1]?.toLowerCase();
      const value = inlineValue ?? (next !== undefined && BOOLEAN_WORDS.has(next) ? argv[++i] : undefined);
      flags[name] = value === undefined ? true : !FALSE_WORDS.has(value.toLowerCase());
      continue;
    }
    if (spec.kind === 'list') {
      const values = (flags[name] as string[] | undefined) ?? [];
      if (inlineValue !== undefined) values.push(inlineValue);
      // NOTE: a list ends at the next flag, long (`--x`) or a known short one (`-tp`).
      const isFlag = (word: string) => word.startsWith('--') || (word.startsWith('-') && byName.has(canonical(word.slice(1))));
      while (inlineValue === undefined && i + 1 < argv.length && !isFlag(argv[i + 1] as string)) {
        values.push(argv[++i] as string);
      }
      if (values.length === 0) throw new UsageError(`--${name} needs at least one value`);
      flags[name] = values;
      continue;
    }
    const value = inlineValue ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (spec.kind === 'number') {
      const parsed = Number(value);
      if (!Number.isFinite(parsed)) throw new UsageError(`--${name} expects a number, got "${value}"`);
      flags[name] = parsed;
    } else {
      flags[name] = value;
    }
  }
  return { flags, positionals };
}

/** Said once per help, since it holds for every flag (see `canonical` and the boolean words above). */
const SWIFT_SPELLINGS_NOTE =
  "Every flag also takes SWIFT's spelling with underscores (--max_model_len), and a boolean flag a true/false word after it (--merge_lora true).";

export function helpText(command: string, summary: string, specs: FlagSpecs): string {
  const lines = [`usage: swiftlet ${command} [flags]`, '', summary, '', 'flags:'];
  // NOTE: --help goes last, after the command's own flags and the shared model flags.
  const ordered = Object.entries(specs).sort(([a], [b]) => Number(a === 'help') - Number(b === 'help'));
  for (const [name, spec] of ordered) {
    const value = spec.kind === 'boolean' ? '' : spec.kind === 'list' ? ' V [V ...]' : ' V';
    const negation = spec.kind === 'boolean' && spec.default === true ? `, --no-${name}` : '';
    const aliases = spec.aliases?.length ? ` (also ${spec.aliases.join(', ')})` : '';
    const fallback = spec.defaultText ?? (spec.default === undefined || spec.default === false ? undefined : String(spec.default));
    lines.push(`  --${name}${value}${negation}${aliases}\n      ${spec.help}${fallback === undefined ? '' : ` [default: ${fallback}]`}`);
  }
  lines.push('', SWIFT_SPELLINGS_NOTE);
  return lines.join('\n');
}
