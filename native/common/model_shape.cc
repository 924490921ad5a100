#include "model_shape.h"

#include <stdexcept>

namespace swiftlet_common {

void checkModelShape(const ModelShape& shape) {
  if (shape.vocabSize <= 0 || shape.hiddenSize <= 0 || shape.intermediateSize <= 0 || shape.numLayers <= 0 ||
      shape.numHeads <= 0 || shape.numKvHeads <= 0 || shape.headDim <= 0) {
    throw std::invalid_argument("model shape has a non-positive size");
  }
  if (shape.numHeads % shape.numKvHeads != 0) throw std::invalid_argument("numHeads must be a multiple of numKvHeads");
  if (shape.rotaryDim < 0 || shape.rotaryDim > shape.headDim || shape.rotaryDim % 2 != 0 ||
      static_cast<int>(shape.invFreq.size()) != shape.rotaryDim / 2) {
    throw std::invalid_argument("rotary tables do not match headDim (rotaryDim " + std::to_string(shape.rotaryDim) + ", " +
                                std::to_string(shape.invFreq.size()) + " inverse frequencies)");
  }
  if (shape.lognAttnContext < 0 || shape.lognAttnContext == 1) throw std::invalid_argument("lognAttnContext must be 0 (off) or at least 2");
}

}  // namespace swiftlet_common
