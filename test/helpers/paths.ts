/** Where the repository and its fixtures are, from `test/` (tsx) or `dist/test/` (compiled). */
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

export const repoRoot = packageRoot();
export const fixtureDir = join(repoRoot, 'test', 'fixtures');
