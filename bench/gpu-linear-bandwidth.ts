/**
 * Each linear layer of a model shape (default Qwen2.5-7B) timed alone at a few activation rows,
 * in bf16, int8 and int4 (groups of --group-size, default 128), with the rate it reads its bytes
 * (weight as held on the GPU, x and y) against the device-to-device copy bandwidth measured in the
 * same run: the per-kernel view of the decode GEMVs behind the end-to-end ms/token of
 * gpu-bench.ts. Random weights made on the GPU, through each layer's own forward (the GEMV for 1-4
 * rows, dequantize + cuBLASLt past it), replayed from a CUDA graph over copies that exceed L2.
 * Usage: node dist/bench/gpu-linear-bandwidth.js [--shape qwen2.5-7b] [--rows 1[,2,...]]
 *   [--group-size 128] [--iterations 20]
 */
import { specFromConfig } from '../src/model/config.js';
import { slotShape } from '../src/model/layout.js';
import { randomModelConfig } from '../src/model/random-weights.js';
import { kernelImagePath, loadCudaAddon } from '../src/runtime/cuda/native.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const shapeName = flag('shape', 'qwen2.5-7b');
const rowCounts = flag('rows', '1').split(',').map(Number);
const groupSize = Number(flag('group-size', '128'));
const iterations = Number(flag('iterations', '20'));

const FORMATS: { name: string; bits: 0 | 4 | 8 }[] = [
  { name: 'bf16', bits: 0 },
  { name: 'int8', bits: 8 },
  { name: 'int4', bits: 4 },
];

/** µs and TB/s of one timing, as table cells. */
function cells(t: { seconds: number; bytes: number } | undefined): string {
  return t ? `${(t.seconds * 1e6).toFixed(1)} | ${(t.bytes / t.seconds / 1e12).toFixed(2)}` : '- | -';
}

function main(): void {
  const addon = loadCudaAddon();
  const spec = specFromConfig(randomModelConfig(shapeName));
  const copyBandwidth = addon.measureCopyBandwidth(0, 2 ** 31, 20);
  // The layers' linears in every format; the lm_head stays bf16 in the int formats' models too.
  const layers = (['qkv', 'o', 'gateUp', 'down'] as const).map((slot) => ({ slot, formats: FORMATS }));
  const rowsOfTable = [...layers, { slot: 'lmHead' as const, formats: FORMATS.slice(0, 1) }];
  console.log(`${addon.deviceInfo(0).name}, ${shapeName}, group ${groupSize}; copy bandwidth ${(copyBandwidth / 1e12).toFixed(2)} TB/s`);
  for (const rows of rowCounts) {
    console.log(`\n| ${rows} row(s) | [n, k] | ${FORMATS.map((f) => `${f.name} µs | ${f.name} TB/s`).join(' | ')} | int4 vs bf16 |`);
    console.log(`| --- | --- | ${FORMATS.map(() => '---: | ---:').join(' | ')} | ---: |`);
    const layerSeconds = FORMATS.map(() => 0);
    for (const { slot, formats } of rowsOfTable) {
      const [n, k] = slotShape(spec, slot) as [number, number];
      const timings = formats.map((f) => addon.measureLinearForward(0, kernelImagePath(), f.bits, groupSize, n, k, rows, iterations));
      if (slot !== 'lmHead') timings.forEach((t, i) => (layerSeconds[i]! += t.seconds));
      const ratio = timings[2] ? `${(timings[0]!.seconds / timings[2].seconds).toFixed(2)}x` : '-';
      console.log(`| ${slot} | [${n}, ${k}] | ${FORMATS.map((_, i) => cells(timings[i])).join(' | ')} | ${ratio} |`);
    }
    const perToken = FORMATS.map((f, i) => `${f.name} ${((layerSeconds[i]! * spec.numLayers) * 1e3).toFixed(3)} ms`);
    console.log(`the layers' linears per token (x ${spec.numLayers}): ${perToken.join(', ')}; int4 vs bf16 ${(layerSeconds[0]! / layerSeconds[2]!).toFixed(2)}x`);
  }
}

main();
