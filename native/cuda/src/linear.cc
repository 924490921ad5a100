#include "linear.h"

#include <stdexcept>
#include <string>

namespace swiftlet_cuda {
namespace {
struct Format {
  const char* name;
  std::unique_ptr<Linear> (*make)(GpuDevice& device, const swiftlet_common::TensorView& tensor);
};
// The weight formats the CUDA runner computes with (src/model/weight-formats/ names them alike).
const Format kFormats[] = {
    {"bfloat16", makeDenseLinear},
    {"float16", makeDenseLinear},
    {"float32", makeDenseLinear},
    {"int8", makeInt8Linear},
    {"int4", makeInt4Linear},
};
}  // namespace

std::unique_ptr<Linear> makeLinear(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  for (const Format& format : kFormats)
    if (tensor.format == format.name) return format.make(device, tensor);
  std::string known;
  for (const Format& format : kFormats) known += std::string(known.empty() ? "" : ", ") + format.name;
  throw std::invalid_argument("the CUDA runner has no weight format \"" + tensor.format + "\" (known: " + known + ")");
}

}  // namespace swiftlet_cuda
