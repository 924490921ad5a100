/**
 * The few Prometheus types the server needs, rendered in the text exposition format
 * (version 0.0.4). Label values are escaped; metric and label names are fixed by the caller.
 */

export type Labels = Readonly<Record<string, string>>;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

/** A counter (or gauge) family keyed by label values. */
export class LabeledValues {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = JSON.stringify(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  set(labels: Labels, value: number): void {
    this.values.set(JSON.stringify(labels), { labels, value });
  }

  get(labels: Labels = {}): number {
    return this.values.get(JSON.stringify(labels))?.value ?? 0;
  }

  render(): string {
    let text = header(this.name, this.help, this.type);
    for (const { labels, value } of this.values.values()) text += `${this.name}${labelText(labels)} ${formatNumber(value)}\n`;
    return text;
  }
}

/** A histogram with fixed upper bounds (the +Inf bucket is implied). */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
    private readonly labels: Labels = {},
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (value <= (this.bounds[i] as number)) this.counts[i] = (this.counts[i] as number) + 1;
  }

  get numObservations(): number {
    return this.count;
  }

  render(): string {
    let text = header(this.name, this.help, 'histogram');
    this.bounds.forEach((bound, i) => {
      text += `${this.name}_bucket${labelText(this.labels, ['le', formatNumber(bound)])} ${this.counts[i] as number}\n`;
    });
    text += `${this.name}_bucket${labelText(this.labels, ['le', '+Inf'])} ${this.count}\n`;
    text += `${this.name}_sum${labelText(this.labels)} ${formatNumber(this.sum)}\n`;
    text += `${this.name}_count${labelText(this.labels)} ${this.count}\n`;
    return text;
  }
}
