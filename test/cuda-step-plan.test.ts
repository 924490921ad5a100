/**
 * The CUDA step planner (native/cuda/src/step_plan.cc) and the one step rule set
 * (native/common/step_contract.cc), which both native runners use, checked without a GPU: g++
 * builds native/cuda/test/step_plan_test.cc into a temporary directory and runs it. Skipped only
 * where g++ is missing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/paths.js';

function gxxMissing(): string | false {
  const probe = spawnSync('g++', ['--version'], { encoding: 'utf8' });
  return probe.error !== undefined || probe.status !== 0 ? 'g++ is not installed' : false;
}

test('the CUDA step planner and the step rules pass their checks (g++, no GPU)', { skip: gxxMissing() }, () => {
  const work = mkdtempSync(join(tmpdir(), 'swiftlet-step-plan-'));
  try {
    const binary = join(work, 'step_plan_test');
    const native = join(repoRoot, 'native');
    execFileSync('g++', [
      '-std=c++17',
      '-O1',
      `-I${join(native, 'common')}`,
      `-I${join(native, 'cuda', 'src')}`,
      join(native, 'cuda', 'test', 'step_plan_test.cc'),
      join(native, 'cuda', 'src', 'step_plan.cc'),
      join(native, 'common', 'step_contract.cc'),
      join(native, 'common', 'late_token_bitmask.cc'),
      '-pthread',
      '-o',
      binary,
    ]);
    const run = spawnSync(binary, { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /all checks passed/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
