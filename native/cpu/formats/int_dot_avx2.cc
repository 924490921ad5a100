// The integer kernels for AVX2 (int_tiles.h): a block dot product is maddubs (pairs of unsigned x
// signed bytes into int16) then madd by ones (pairs of int16 into int32).
#pragma GCC target("avx2,fma,f16c")
#include "int_tiles.h"

namespace swiftlet {
namespace {
struct MaddubsDot {
  static __m256i dot(__m256i unsignedBytes, __m256i signedBytes) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(unsignedBytes, signedBytes), _mm256_set1_epi16(1));
  }
};
}  // namespace

IntDotKernels avx2IntKernels() { return {rowsTiled<Int8Blocks<MaddubsDot>>, rowsTiled<Int4Blocks<MaddubsDot>>, "avx2"}; }

}  // namespace swiftlet
