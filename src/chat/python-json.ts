/**
 * JSON as Python's `json.dumps(value, ensure_ascii=False)` writes it: `", "` between items and
 * `": "` after keys (JSON.stringify writes neither space), characters past ASCII as they are.
 * Prompts that reference code builds with json.dumps must match it byte for byte.
 */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}: ${pythonJsonDumps(item)}`).join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
