// How the integer kernels turn a weight code into a float without a conversion instruction: the
// code's bits are OR-ed into the mantissa of 128.0f, giving 128 + code * kCodeStep exactly
// (int4: the nibble at mantissa bits 16-19, step 1; int8: the byte at bits 15-22, step 1/2).
// A weight is then mul * f - sub with, per (row, group), mul = scale / step and
// sub = scale * (128 / step + zero) = scale * (code - zero) exactly in real arithmetic.
// Shared by the kernels (nvcc) and the host repacking (formats/grouped_int_layout.cc).
#pragma once

constexpr float kCodeFloatBase = 128.0f;
constexpr float codeStep(int bits) { return bits == 4 ? 1.0f : 0.5f; }
