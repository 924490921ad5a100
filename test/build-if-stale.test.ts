/**
 * The install script rebuilds the CPU addon only when an input is newer than the addon, so the
 * first `npx swiftlet` in a checkout (which reruns install and prepare) does not rebuild it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from './helpers/paths.js';

const checkout = mkdtempSync(join(tmpdir(), 'swiftlet-stale-'));
after(() => rmSync(checkout, { recursive: true, force: true }));

/** A checkout with the script, one native source and a built addon; node-gyp is a stand-in that leaves a mark. */
function layout(): { marker: string; fakeNodeGyp: string } {
  for (const dir of ['scripts', 'native/cpu', 'native/common', 'build/Release']) mkdirSync(join(checkout, dir), { recursive: true });
  copyFileSync(join(repoRoot, 'scripts', 'build-if-stale.mjs'), join(checkout, 'scripts', 'build-if-stale.mjs'));
  writeFileSync(join(checkout, 'binding.gyp'), '{}');
  writeFileSync(join(checkout, 'native', 'cpu', 'model.cc'), '');
  writeFileSync(join(checkout, 'build', 'Release', 'swiftlet_cpu.node'), '');
  const marker = join(checkout, 'rebuilt');
  const fakeNodeGyp = join(checkout, 'fake-node-gyp.mjs');
  writeFileSync(fakeNodeGyp, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, process.argv.slice(2).join(' '));\n`);
  return { marker, fakeNodeGyp };
}

function install(fakeNodeGyp: string): void {
  const run = spawnSync(process.execPath, ['scripts/build-if-stale.mjs', 'native'], { cwd: checkout, env: { ...process.env, npm_config_node_gyp: fakeNodeGyp }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
}

test('the addon is rebuilt only when a native source is newer than it', () => {
  const { marker, fakeNodeGyp } = layout();
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(checkout, 'native', 'cpu', 'model.cc'), past, past);
  utimesSync(join(checkout, 'binding.gyp'), past, past);
  install(fakeNodeGyp);
  assert.equal(existsSync(marker), false, 'an up-to-date addon was rebuilt');
  writeFileSync(join(checkout, 'native', 'cpu', 'model.cc'), '// edited');
  install(fakeNodeGyp);
  assert.equal(existsSync(marker), true, 'an edited source did not rebuild the addon');
});
