/**
 * The CPU sampler's distribution (native/cpu/test/sampling_test.cc): frequencies of many seeded
 * draws against a sort-based reference, chi-square, for temperature, min-p, top-k, top-p and a
 * mix; the sort-free top-p floor against the sorted prefix at a 152k vocabulary; determinism per
 * seed. Built with -march=native, as the addon is, so the vector paths are the ones checked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gxxMissing, runNativeCheck } from './helpers/native-check.js';

test('the CPU sampler draws from the distribution its settings describe (g++)', { skip: gxxMissing() }, () => {
  const run = runNativeCheck(['cpu/test/sampling_test.cc', 'cpu/sampling.cc', 'cpu/sampling_filters.cc'], ['cpu', 'common'], ['-O2', '-march=native']);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /all checks passed/);
});
