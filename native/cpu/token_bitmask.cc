#include "token_bitmask.h"

#include <limits>

namespace swiftlet {

void applyTokenBitmask(float* logits, int vocabSize, const uint32_t* bitmaskRow) {
  if (bitmaskRow == nullptr) return;
  const float negInf = -std::numeric_limits<float>::infinity();
  for (int word = 0; word * 32 < vocabSize; word++) {
    const uint32_t allowed = bitmaskRow[word];
    if (allowed == 0xffffffffu) continue;
    const int end = word * 32 + 32 < vocabSize ? word * 32 + 32 : vocabSize;
    for (int id = word * 32; id < end; id++)
      if (!((allowed >> (id & 31)) & 1u)) logits[id] = negInf;
  }
}

}  // namespace swiftlet
