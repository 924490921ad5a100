// The decoder both native runners build (src/runtime/native-shape.ts NativeModelShape): sizes,
// the family switches as booleans, and rope already turned into inverse frequencies.
#pragma once
#include <cmath>
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
  bool ropeInterleaved = false;  // pairs (x[2i], x[2i+1]) (ChatGLM) instead of (x[i], x[i + rotaryDim / 2])
  int lognAttnContext = 0;       // Qwen v1 log-n: queries at positions >= this scale by lognQueryScale; 0: off
  // Qwen v1's dynamic NTK: every step brings each sequence's own inverse frequencies
  // (StepInput::ropeInvFreq) and invFreq above is unused.
  bool perSequenceRope = false;
  int qkvRows() const { return (numHeads + 2 * numKvHeads) * headDim; }
  // Floats of StepInput::ropeInvFreq per sequence: 0 when the model has one table for all.
  int ropeInvFreqWidth() const { return perSequenceRope ? rotaryDim / 2 : 0; }
};

// The factor Qwen v1's use_logn_attn multiplies the query at `position` by: log(position + 1) /
// log(context) past the context it was trained at, 1 before it (and always, with context 0).
inline float lognQueryScale(int context, int position) {
  if (context <= 0 || position < context) return 1.f;
  return static_cast<float>(std::log(static_cast<double>(position) + 1.0) / std::log(static_cast<double>(context)));
}

// Throws std::invalid_argument on sizes no forward pass can run.
void checkModelShape(const ModelShape& shape);

}  // namespace swiftlet_common
