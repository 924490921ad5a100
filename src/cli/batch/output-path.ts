/**
 * Checks on a results path made before the model loads, so a mistake costs a one-line error
 * rather than a stack trace after minutes of loading: not the input file under another name,
 * in an existing directory, a regular file (a device such as /dev/full, or a FIFO, cannot be
 * resumed nor rewritten in order: use `-` for stdout), writable, and not holding results that
 * would be lost unless the user said what to do with them.
 */
import { accessSync, constants, existsSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../args.js';

/** `new`: the output must not hold results yet; `resume`: keep and extend them; `overwrite`: replace them. */
export type OutputMode = 'new' | 'resume' | 'overwrite';

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The path with symlinks resolved, for a file that may not exist yet. */
function resolvedPath(path: string): string {
  if (existsSync(path)) return realpathSync(path);
  return join(realpathSync(dirname(resolve(path))), basename(path));
}

function isSameFile(a: string, b: string): boolean {
  if (resolvedPath(a) === resolvedPath(b)) return true;
  const statA = statOrNull(a);
  const statB = statOrNull(b);
  // NOTE: hard links share device and inode under different names.
  return statA !== null && statB !== null && statA.dev === statB.dev && statA.ino === statB.ino;
}

export function checkOutputPath(inputPath: string, outputPath: string, mode: OutputMode): void {
  if (outputPath === '-') {
    if (mode === 'resume') throw new UsageError('--resume needs a results file, not - (stdout)');
    return;
  }
  const directory = dirname(resolve(outputPath));
  const directoryStat = statOrNull(directory);
  if (directoryStat === null) throw new UsageError(`-o ${outputPath}: no such directory ${directory}`);
  if (!directoryStat.isDirectory()) throw new UsageError(`-o ${outputPath}: ${directory} is not a directory`);
  if (inputPath !== '-' && isSameFile(inputPath, outputPath)) {
    throw new UsageError(`-o ${outputPath} is the input file: results would overwrite the requests; choose another path`);
  }
  const outputStat = statOrNull(outputPath);
  if (outputStat?.isDirectory()) throw new UsageError(`-o ${outputPath} is a directory; give a file path`);
  if (outputStat !== null && !outputStat.isFile()) {
    throw new UsageError(`-o ${outputPath} is not a regular file (results are rewritten in input order at the end); use -o - for stdout`);
  }
  try {
    // NOTE: the directory too: the results are put in input order through a file renamed over the output.
    accessSync(directory, constants.W_OK);
    if (outputStat !== null) accessSync(outputPath, constants.W_OK);
  } catch {
    throw new UsageError(`-o ${outputPath}: not writable (permission denied or a read-only file system)`);
  }
  if (mode === 'new' && outputStat !== null && outputStat.size > 0) {
    throw new UsageError(`-o ${outputPath} already holds results: --resume to answer only the requests it lacks, or --overwrite to replace it`);
  }
}
