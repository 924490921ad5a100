/**
 * Native checks that need neither a GPU nor Node's headers: g++ builds a C++ test program from
 * sources under native/ into a temporary directory and runs it; the program prints one line per
 * failed check and exits non-zero when any failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Why a native check cannot run here (a skip reason), or false. */
export function gxxMissing(): string | false {
  const probe = spawnSync('g++', ['--version'], { encoding: 'utf8' });
  return probe.error !== undefined || probe.status !== 0 ? 'g++ is not installed' : false;
}

/**
 * Builds `sources` (paths under native/, include paths `includes` likewise; `flags` replace
 * the default -O1) and runs the program: its exit status and output.
 */
export function runNativeCheck(sources: readonly string[], includes: readonly string[], flags: readonly string[] = ['-O1']): { status: number | null; output: string } {
  const work = mkdtempSync(join(tmpdir(), 'swiftlet-native-check-'));
  try {
    const native = join(repoRoot, 'native');
    const binary = join(work, 'check');
    execFileSync('g++', ['-std=c++17', ...flags, ...includes.map((dir) => `-I${join(native, dir)}`), ...sources.map((file) => join(native, file)), '-o', binary]);
    const run = spawnSync(binary, { encoding: 'utf8' });
    return { status: run.status, output: run.stdout + run.stderr };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
