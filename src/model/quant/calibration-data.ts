/**
 * Calibration text for GPTQ: a small built-in set (plain prose, dialogue, code and numbers, so
 * every kind of input a chat model sees moves the Hessians), or the user's JSONL dataset in the
 * shapes SWIFT accepts: {"text"}, {"messages": [{"content"}...]} or {"query", "response"}.
 * The texts are tokenized, joined and cut into sequences of `sequenceLength` tokens.
 */
import { readFileSync } from 'node:fs';
import { ModelLoadError } from '../errors.js';

const BUILT_IN_TEXTS: readonly string[] = [
  'The river rose for three days after the storm. Farmers moved their animals to the high pasture, and the old bridge, which had stood since the mill was built, finally gave way on the fourth morning.',
  'User: Can you explain why the sky is blue?\nAssistant: Sunlight contains every colour. Air molecules scatter short wavelengths, such as blue, much more strongly than long ones, so blue light reaches your eyes from every direction of the sky.',
  'def moving_average(values, window):\n    total = sum(values[:window])\n    out = [total / window]\n    for i in range(window, len(values)):\n        total += values[i] - values[i - window]\n        out.append(total / window)\n    return out\n',
  'Quarterly revenue grew 12.4% to $3.81 billion, while operating costs fell 2.1%. The board approved a dividend of 0.45 per share, payable on 15 March to holders of record on 1 March.',
  'To bake the bread, mix 500 g of flour with 350 ml of warm water, 10 g of salt and 7 g of yeast. Knead for ten minutes, let it rise for an hour, shape the loaf and bake at 220 degrees for 35 minutes.',
  'In 1609 Galileo heard of a Dutch device that made distant objects look near. Within months he had built his own telescope, turned it to the night sky, and seen mountains on the Moon and four moons circling Jupiter.',
  'SELECT customer_id, COUNT(*) AS orders, SUM(total) AS spent\nFROM orders\nWHERE created_at >= \'2024-01-01\'\nGROUP BY customer_id\nHAVING COUNT(*) > 3\nORDER BY spent DESC;',
  'User: Write a short poem about autumn.\nAssistant: Leaves let go without a sound,\ngold and rust upon the ground;\nthe wind that wakes them as they fall\nis gentle, and it carries all.',
  'A prime number has exactly two divisors, one and itself. The first primes are 2, 3, 5, 7, 11 and 13; every integer greater than one factors into primes in exactly one way, up to their order.',
  'The committee reviewed the proposal and asked for three changes: a clearer budget, a timeline with monthly milestones, and a plan for measuring whether the programme reached the families it was meant to help.',
  'function debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}',
  '北京是中国的首都，有三千多年的历史。故宫、长城和天坛每年吸引数以百万计的游客。',
];

/** The texts of one JSONL dataset line, or an error naming what the line lacks. */
function textsOfLine(line: string, where: string): string[] {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch {
    throw new ModelLoadError(`${where}: not JSON`);
  }
  const record = (row ?? {}) as Record<string, unknown>;
  if (typeof record['text'] === 'string') return [record['text']];
  if (Array.isArray(record['messages'])) {
    return (record['messages'] as unknown[]).flatMap((m) => (typeof (m as { content?: unknown })?.content === 'string' ? [(m as { content: string }).content] : []));
  }
  if (typeof record['query'] === 'string') return [record['query'], ...(typeof record['response'] === 'string' ? [record['response']] : [])];
  throw new ModelLoadError(`${where}: a calibration line needs "text", "messages" or "query"`);
}

/** The calibration texts: the built-in set, or every text of the JSONL file `datasetPath`. */
export function calibrationTexts(datasetPath?: string): string[] {
  if (datasetPath === undefined) return [...BUILT_IN_TEXTS];
  const lines = readFileSync(datasetPath, 'utf8').split('\n');
  const texts = lines.flatMap((line, i) => (line.trim() ? textsOfLine(line, `${datasetPath} line ${i + 1}`) : []));
  if (texts.length === 0) throw new ModelLoadError(`${datasetPath}: no calibration text`);
  return texts;
}

/** The texts tokenized, joined, and cut into at most `maxSequences` runs of `sequenceLength` tokens (the last may be shorter). */
export function calibrationSequences(texts: readonly string[], encode: (text: string) => number[], sequenceLength: number, maxSequences: number): number[][] {
  const ids = texts.flatMap((text) => encode(text));
  const sequences: number[][] = [];
  for (let start = 0; start < ids.length && sequences.length < maxSequences; start += sequenceLength) sequences.push(ids.slice(start, start + sequenceLength));
  return sequences;
}
