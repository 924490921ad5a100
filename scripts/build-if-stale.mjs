// `npm install`'s build steps, skipped when their output is newer than every input: the first
// `npx swiftlet` in a checkout installs the checkout into npx's cache, which runs the install
// and prepare scripts again; with this they take a moment instead of a full rebuild.
//   node scripts/build-if-stale.mjs native       the CPU addon (node-gyp rebuild)
//   node scripts/build-if-stale.mjs typescript   dist/ (tsc -p .)
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** @type {Record<string, { output: string, inputs: string[], build: () => void }>} */
const STEPS = {
  native: {
    output: 'build/Release/swiftlet_cpu.node',
    inputs: ['binding.gyp', 'native/cpu', 'native/common'],
    // NOTE: npm hands its own node-gyp to scripts; outside npm, the one on the PATH.
    build: () => run(process.env.npm_config_node_gyp ? [process.execPath, process.env.npm_config_node_gyp] : ['node-gyp'], ['rebuild']),
  },
  typescript: {
    output: 'dist/src/cli/main.js',
    inputs: ['tsconfig.json', 'package.json', 'src', 'test', 'bench'],
    build: () => {
      run([process.execPath, join(root, 'node_modules', 'typescript', 'bin', 'tsc')], ['-p', '.']);
      chmodSync(join(root, 'dist', 'src', 'cli', 'main.js'), 0o755);
    },
  },
};

/** @param {string[]} command @param {string[]} args */
function run(command, args) {
  const [file, ...prefix] = command;
  const result = spawnSync(/** @type {string} */ (file), [...prefix, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** The newest modification time under `path` (a file or a directory tree), dot files left out. */
function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path)
    .filter((name) => !name.startsWith('.'))
    .reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

const name = process.argv[2] ?? '';
const step = STEPS[name];
if (step === undefined) {
  console.error(`usage: node scripts/build-if-stale.mjs ${Object.keys(STEPS).join('|')}`);
  process.exit(2);
}
const output = join(root, step.output);
const newestInput = Math.max(...step.inputs.map((input) => join(root, input)).filter(existsSync).map(newestMtime));
if (existsSync(output) && statSync(output).mtimeMs >= newestInput) {
  console.error(`swiftlet: ${step.output} is up to date`);
} else {
  step.build();
}
