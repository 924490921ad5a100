// The integer kernels for AVX-512 VNNI (int_tiles.h, on 256-bit vectors through AVX512VL): a
// block dot product is one dpbusd (four unsigned x signed byte products into each int32 lane).
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")
#include "int_tiles.h"

namespace swiftlet {
namespace {
struct VnniDot {
  static __m256i dot(__m256i unsignedBytes, __m256i signedBytes) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), unsignedBytes, signedBytes);
  }
};
}  // namespace

IntDotKernels vnniIntKernels() { return {rowsTiled<Int8Blocks<VnniDot>>, rowsTiled<Int4Blocks<VnniDot>>, "avx512vnni"}; }

}  // namespace swiftlet
