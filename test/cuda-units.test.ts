/**
 * The CUDA runner's pure units checked without a GPU (native/cuda/test/units_test.cc): the
 * environment flags read once per model (native/cuda/src/env_flags.h) and the canonical slots a
 * rank holds with their shapes (native/cuda/src/slot_shapes.h), the int formats' repacking, and
 * the int GEMV kernel's source run on the host (native/cuda/test/cuda_host_emulation.h). Skipped
 * only where g++ is missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gxxMissing, runNativeCheck } from './helpers/native-check.js';

test('the CUDA runner reads its environment flags and knows its slots (g++, no GPU)', { skip: gxxMissing() }, () => {
  const run = runNativeCheck(
    ['cuda/test/units_test.cc', 'cuda/src/env_flags.cc', 'cuda/src/slot_shapes.cc', 'common/slot_shape.cc', 'common/layout.cc'],
    ['common', 'cuda/src'],
  );
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /all checks passed/);
});

test('the CUDA int formats repack into the layout their kernels read (g++, no GPU)', { skip: gxxMissing() }, () => {
  const run = runNativeCheck(
    ['cuda/test/grouped_int_layout_test.cc', 'cuda/src/formats/grouped_int_layout.cc', 'common/native_tensor.cc'],
    ['common', 'cuda/src', 'cuda/test'],
  );
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /all checks passed/);
});

test('the CUDA int GEMV kernel, run on the host, computes the layout\'s weights times x (g++, no GPU)', { skip: gxxMissing() }, () => {
  const run = runNativeCheck(['cuda/test/int_gemv_emulated_test.cc'], ['cuda/test'], ['-O1', '-std=c++20', '-pthread']);
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /all checks passed/);
});
