#include "decode_graphs.h"

namespace swiftlet_cuda {

DecodeGraphs::DecodeGraphs(GpuDevice& device, int maxNumSeqs, bool enabled) : device_(device) {
  if (!enabled) return;
  for (int b : {1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512})
    if (b < maxNumSeqs) buckets_.push_back(b);
  buckets_.push_back(maxNumSeqs);
}

DecodeGraphs::~DecodeGraphs() {
  for (auto& [key, g] : graphs_) device_.driver().graphExecDestroy(g);
}

int DecodeGraphs::bucketFor(int numSeqs) const {
  for (int b : buckets_)
    if (b >= numSeqs) return b;
  return 0;
}

bool DecodeGraphs::replay(int bucket, bool lora) {
  auto it = graphs_.find({bucket, lora});
  if (it == graphs_.end()) return false;
  checkCu(device_.driver().graphLaunch(it->second, device_.stream()), "cuGraphLaunch");
  return true;
}

void DecodeGraphs::capture(int bucket, bool lora, const std::function<void()>& forward) {
  const DriverApi& cu = device_.driver();
  CUgraph graph;
  checkCu(cu.streamBeginCapture(device_.stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  try {
    forward();
  } catch (...) {
    cu.streamEndCapture(device_.stream(), &graph);
    throw;
  }
  checkCu(cu.streamEndCapture(device_.stream(), &graph), "cuStreamEndCapture");
  CUgraphExec exec;
  checkCu(cu.graphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
  cu.graphDestroy(graph);
  graphs_[{bucket, lora}] = exec;
}

void DecodeGraphs::clear() {
  device_.makeCurrent();
  device_.synchronize("cuStreamSynchronize");
  for (auto& [key, g] : graphs_) device_.driver().graphExecDestroy(g);
  graphs_.clear();
}

}  // namespace swiftlet_cuda
