// The decoder both native runners build (src/runtime/native-shape.ts NativeModelShape): sizes,
// the family switches as booleans, and rope already turned into inverse frequencies.
#pragma once
#include <string>
#include <vector>

namespace swiftlet_common {

struct ModelShape {
  int vocabSize = 0, hiddenSize = 0, intermediateSize = 0, numLayers = 0, numHeads = 0, numKvHeads = 0, headDim = 0;
  float rmsNormEps = 1e-6f;
  bool tieWordEmbeddings = false, qkvBias = false, oBias = false, mlpBias = false, qkNorm = false;
  std::vector<float> invFreq;  // [rotaryDim / 2]
  float attentionScale = 1.f;  // multiplies cos and sin
  int rotaryDim = 0;
  int qkvRows() const { return (numHeads + 2 * numKvHeads) * headDim; }
};

// Throws std::invalid_argument on sizes no forward pass can run.
void checkModelShape(const ModelShape& shape);

}  // namespace swiftlet_common
