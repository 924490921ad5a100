/** The swiftlet CLI as the tests run it: compiled (dist/test) or from source through tsx. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './paths.js';

export function cliCommand(): string[] {
  const isCompiled = fileURLToPath(import.meta.url).includes(join('dist', 'test'));
  const compiled = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  if (isCompiled && existsSync(compiled)) return [compiled];
  return ['--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts')];
}
