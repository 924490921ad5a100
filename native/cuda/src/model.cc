#include "model.h"

#include "attention_tiles.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace swiftlet_cuda {
namespace {

constexpr int kBlockSize = 16;

uint16_t floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);                     // round to nearest even
  return (uint16_t)(u >> 16);
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    float f = std::ldexp((float)mant, -24);
    return sign ? -f : f;
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float toFloat(const std::string& dtype, const uint8_t* bytes, size_t i) {
  if (dtype == "float32") {
    float f;
    std::memcpy(&f, bytes + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes + 2 * i, 2);
  if (dtype == "bfloat16") {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  return halfToFloat(h);
}

size_t align256(size_t n) { return (n + 255) & ~size_t(255); }

struct ContextGuard {
  ContextGuard(const DriverApi& cu, CUcontext ctx) { checkCu(cu.ctxSetCurrent(ctx), "cuCtxSetCurrent"); }
};

}  // namespace

DeviceInfo deviceInfo(int ordinal) {
  const DriverApi& cu = driver();
  CUdevice dev;
  checkCu(cu.deviceGet(&dev, ordinal), "cuDeviceGet");
  CUcontext ctx;
  checkCu(cu.primaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  checkCu(cu.ctxSetCurrent(ctx), "cuCtxSetCurrent");
  DeviceInfo info{};
  char name[256] = {0};
  cu.deviceGetName(name, sizeof(name) - 1, dev);
  info.name = name;
  cu.memGetInfo(&info.freeMemory, &info.totalMemory);
  cu.deviceGetAttribute(&info.smCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  cu.deviceGetAttribute(&info.ccMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  cu.deviceGetAttribute(&info.ccMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  cu.primaryCtxRelease(dev);
  return info;
}

double measureCopyBandwidth(int ordinal, size_t bytes, int iterations) {
  const DriverApi& cu = driver();
  CUdevice dev;
  checkCu(cu.deviceGet(&dev, ordinal), "cuDeviceGet");
  CUcontext ctx;
  checkCu(cu.primaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  checkCu(cu.ctxSetCurrent(ctx), "cuCtxSetCurrent");
  CUdeviceptr a = 0, b = 0;
  CUstream stream;
  CUevent start, stop;
  checkCu(cu.memAlloc(&a, bytes), "cuMemAlloc (bandwidth probe)");
  checkCu(cu.memAlloc(&b, bytes), "cuMemAlloc (bandwidth probe)");
  checkCu(cu.streamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  checkCu(cu.eventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.eventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.memsetD8Async(a, 1, bytes, stream), "cuMemsetD8Async");
  for (int i = 0; i < 3; i++) checkCu(cu.memcpyDtoDAsync(b, a, bytes, stream), "cuMemcpyDtoDAsync");
  checkCu(cu.eventRecord(start, stream), "cuEventRecord");
  for (int i = 0; i < iterations; i++) {
    checkCu(cu.memcpyDtoDAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, stream), "cuMemcpyDtoDAsync");
  }
  checkCu(cu.eventRecord(stop, stream), "cuEventRecord");
  checkCu(cu.eventSynchronize(stop), "cuEventSynchronize");
  float ms = 0;
  checkCu(cu.eventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
  cu.eventDestroy(start);
  cu.eventDestroy(stop);
  cu.streamDestroy(stream);
  cu.memFree(a);
  cu.memFree(b);
  cu.primaryCtxRelease(dev);
  return 2.0 * (double)bytes * iterations / (ms * 1e-3);
}

Model::Model(const ModelConfig& config) : cfg_(config), cu_(driver()), lt_(cublasLt()) {
  const ModelConfig& c = cfg_;
  if (c.headDim != 16 && c.headDim != 32 && c.headDim != 64 && c.headDim != 128)
    throw CudaError("CUDA runner: head_dim " + std::to_string(c.headDim) + " is not supported (16, 32, 64, 128)");
  if (c.numHeads % c.numKvHeads != 0 || c.numHeads / c.numKvHeads > 16)
    throw CudaError("CUDA runner: query heads per KV head must divide evenly and be at most 16");
  if (c.hiddenSize % 8 != 0 || c.intermediateSize % 8 != 0) throw CudaError("CUDA runner: hidden and intermediate sizes must be multiples of 8");
  if (c.rotaryDim > c.headDim || (int)c.invFreq.size() < c.rotaryDim / 2)
    throw CudaError("CUDA runner: rotary tables do not match head_dim");
  if (c.maxLoras < 0 || (c.maxLoras > 0 && (c.maxLoraRank < 1 || c.maxLoraRank > 256)))
    throw CudaError("CUDA runner: maxLoraRank must be 1..256 when maxLoras > 0 (got " + std::to_string(c.maxLoraRank) + ")");

  checkCu(cu_.deviceGet(&dev_, c.device), "cuDeviceGet");
  checkCu(cu_.primaryCtxRetain(&ctx_, dev_), "cuDevicePrimaryCtxRetain");
  ContextGuard guard(cu_, ctx_);
  int major = 0;
  cu_.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev_);
  if (major < 8) throw CudaError("CUDA runner needs compute capability 8.0 or newer (bf16 tensor cores)");

  std::ifstream file(c.fatbinPath, std::ios::binary);
  if (!file) throw CudaError("CUDA kernels not found at " + c.fatbinPath + " (build them: make -C native/cuda)");
  std::stringstream buf;
  buf << file.rdbuf();
  const std::string image = buf.str();
  checkCu(cu_.moduleLoadData(&module_, image.data()), "cuModuleLoadData (kernels.fatbin)");
  checkCu(cu_.streamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

  checkLt(lt_.create(&ltHandle_), "cublasLtCreate");
  const int opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  for (cublasLtMatmulDesc_t* d : {&descBf16_, &descF32_}) {
    checkLt(lt_.matmulDescCreate(d, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    checkLt(lt_.matmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)), "set TRANSA");
    checkLt(lt_.matmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)), "set TRANSB");
  }
  checkLt(lt_.preferenceCreate(&pref_), "cublasLtMatmulPreferenceCreate");
  uint64_t ws = workspaceBytes_;
  checkLt(lt_.preferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
          "set MAX_WORKSPACE_BYTES");

  const size_t H = c.hiddenSize, D = c.headDim, V = c.vocabSize, I = c.intermediateSize;
  qkvRows_ = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  const size_t qDim = (size_t)c.numHeads * D;

  // Weights.
  embed_ = alloc(V * H * 2);
  if (c.computesLogits) lmHead_ = c.tieWordEmbeddings ? embed_ : alloc(V * H * 2);
  finalNorm_ = alloc(H * 4);
  layers_.resize(c.numLayers);
  for (Layer& l : layers_) {
    l.qkv = alloc((size_t)qkvRows_ * H * 2);
    l.o = alloc(H * qDim * 2);
    l.gateUp = alloc(2 * I * H * 2);
    l.down = alloc(H * I * 2);
    l.inputNorm = alloc(H * 4);
    l.postNorm = alloc(H * 4);
    if (c.qkvBias) l.qkvBias = alloc((size_t)qkvRows_ * 4);
    if (c.oBias) l.oBias = alloc(H * 4);
    if (c.mlpBias) {
      l.gateUpBias = alloc(2 * I * 4);
      l.downBias = alloc(H * 4);
    }
    if (c.qkNorm) {
      l.qNorm = alloc(D * 4);
      l.kNorm = alloc(D * 4);
    }
  }
  weightBytes_ = 0;
  invFreq_ = alloc(c.invFreq.size() * 4 + 4);
  checkCu(cu_.memcpyHtoDAsync(invFreq_, c.invFreq.data(), c.invFreq.size() * 4, stream_), "upload invFreq");

  // Scratch.
  const size_t T = c.maxNumTokens, S = c.maxNumSeqs;
  maxBlocksPerSeq_ = (c.maxModelLen + kBlockSize - 1) / kBlockSize;
  maxSplits_ = 32;
  logitsCap_ = c.computesLogits ? std::max(c.maxNumSeqs, 256) : 0;
  maxWorkItems_ = c.maxNumTokens / attn::BQ + c.maxNumSeqs;
  residual_ = alloc(T * H * 4);
  normed_ = alloc(T * H * 2);
  qkvOut_ = alloc(T * qkvRows_ * 2);
  q_ = alloc(T * qDim * 2);
  attnOut_ = alloc(T * qDim * 2);
  delta_ = alloc(T * H * 2);
  gateUpOut_ = alloc(T * 2 * I * 2);
  act_ = alloc(T * I * 2);
  finalNormed_ = alloc((size_t)logitsCap_ * H * 2);
  logits_ = alloc((size_t)logitsCap_ * V * 4);
  processed_ = alloc((size_t)logitsCap_ * V * 4);
  counts_ = alloc((size_t)logitsCap_ * V * 4);
  checkCu(cu_.memsetD8Async(counts_, 0, (size_t)logitsCap_ * V * 4, stream_), "clear counts");
  partOut_ = alloc(S * c.numHeads * maxSplits_ * D * 4);
  partMax_ = alloc(S * c.numHeads * maxSplits_ * 4);
  partSum_ = alloc(S * c.numHeads * maxSplits_ * 4);
  workspace_ = alloc(workspaceBytes_);

  size_t offset = 0;
  auto region = [&](size_t count) {
    Region r{offset, count};
    offset += (count + 63) & ~size_t(63);
    return r;
  };
  rTokens_ = region(T);
  rPositions_ = region(T);
  rSlots_ = region(T);
  rQueryStart_ = region(S + 1);
  rContextLens_ = region(S);
  rBlockTables_ = region(S * maxBlocksPerSeq_);
  rWork_ = region(2 * (size_t)maxWorkItems_);
  rLogitRows_ = region(S + T);
  rTokenSlots_ = region(T);
  arenaInts_ = offset;
  arena_ = alloc(arenaInts_ * 4);
  checkCu(cu_.memAllocHost((void**)&arenaHost_, arenaInts_ * 4), "cuMemAllocHost");
  checkCu(cu_.streamSynchronize(stream_), "cuStreamSynchronize");

  if (c.maxLoras > 0) {
    // NOTE: every slot is allocated up front (as vLLM does), so the KV cache is sized after it and
    // the decode graphs can bake in its address.
    const size_t R = c.maxLoraRank, qRows = (size_t)c.numHeads * D, kvRows = (size_t)c.numKvHeads * D;
    size_t off = 0;
    auto group = [&](size_t k, size_t n, int numSeg, size_t e0, size_t e1) {
      LoraGroup g;
      g.numSeg = numSeg;
      g.segEnd0 = (int)e0;
      g.segEnd1 = (int)e1;
      g.a = off;
      off += numSeg * R * k;
      g.b = off;
      off += n * R;
      off = (off + 7) & ~size_t(7);  // 32-byte rows for the shrink's vector loads
      loraGroups_.push_back(g);
    };
    for (int li = 0; li < c.numLayers; li++) {
      group(H, qkvRows_, 3, qRows, qRows + kvRows);
      group(qDim, H, 1, H, H);
      group(H, 2 * I, 2, I, 2 * I);
      group(I, H, 1, H, H);
    }
    loraSlotElems_ = off;
    loraWeights_ = alloc((size_t)c.maxLoras * loraSlotElems_ * 4);
    checkCu(cu_.memsetD8Async(loraWeights_, 0, (size_t)c.maxLoras * loraSlotElems_ * 4, stream_), "clear LoRA slots");
    loraRanks_ = alloc((size_t)c.maxLoras * 4);
    loraScales_ = alloc((size_t)c.maxLoras * 4);
    checkCu(cu_.memsetD8Async(loraRanks_, 0, (size_t)c.maxLoras * 4, stream_), "clear LoRA ranks");
    checkCu(cu_.memsetD8Async(loraScales_, 0, (size_t)c.maxLoras * 4, stream_), "clear LoRA scales");
    loraU_ = alloc(T * 3 * R * 4);
    loraRankHost_.assign(c.maxLoras, 0);
    loraScaleHost_.assign(c.maxLoras, 0.f);
    loraLoaded_.assign(c.maxLoras, false);
    checkCu(cu_.streamSynchronize(stream_), "cuStreamSynchronize");
  }

  for (int b : {1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512})
    if (b < c.maxNumSeqs) buckets_.push_back(b);
  buckets_.push_back(c.maxNumSeqs);

  const std::string profile = std::getenv("SWIFTLET_CUDA_PROFILE") ? std::getenv("SWIFTLET_CUDA_PROFILE") : "";
  profiling_ = profile == "1" || profile == "steps";
  profileStages_ = profile == "1";
  useGemv_ = !(std::getenv("SWIFTLET_CUDA_NO_GEMV") && std::string(std::getenv("SWIFTLET_CUDA_NO_GEMV")) == "1");
  const int group = c.numHeads / c.numKvHeads;
  decodeSimt_ = std::getenv("SWIFTLET_DECODE_SIMT") && std::string(std::getenv("SWIFTLET_DECODE_SIMT")) == "1";
  decodeKernel_ = decodeSimt_ ? "attention_decode_d" + std::to_string(c.headDim) + (group <= 8 ? "_g8" : "_g16") + "_u1"
                              : "attention_decode_tc_d" + std::to_string(c.headDim);
  cu_.deviceGetAttribute(&numSms_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev_);
  if (!decodeSimt_) {
    checkCu(cu_.funcSetAttribute(fn(decodeKernel_.c_str()), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                 (int)attn::decodeSmemBytes(c.headDim)),
            "cuFuncSetAttribute (decode shared memory)");
  }
  if (profiling_) {
    profileEvents_.resize(64 * c.numLayers + 64);
    for (CUevent& e : profileEvents_) checkCu(cu_.eventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
  }

  const std::string prefill = "attention_prefill_d" + std::to_string(c.headDim);
  checkCu(cu_.funcSetAttribute(fn(prefill.c_str()), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                               (int)attn::prefillSmemBytes(c.headDim)),
          "cuFuncSetAttribute (prefill shared memory)");
}

Model::~Model() {
  for (auto& [kind, p] : profiles_) {
    double gpu = 0;
    for (auto& [name, ms] : p.stageMs) gpu += ms;
    std::fprintf(stderr, "# profile, %s: %ld steps, GPU %.3f ms/step, host wall (worker) %.3f ms/step\n",
                 kind.c_str(), p.steps, gpu / p.steps, p.wallMs / p.steps);
    std::fprintf(stderr, "#   host: parsing %.3f ms, then layers queued after %.3f ms, all work after %.3f ms\n",
                 p.parseMs / p.steps, p.launchedMs / p.steps, p.queuedMs / p.steps);
    for (auto& [name, ms] : p.stageMs)
      std::fprintf(stderr, "#   %-14s %9.1f us/step (%5.1f%%)\n", name.c_str(), 1e3 * ms / p.steps, 100.0 * ms / gpu);
  }
  try {
    ContextGuard guard(cu_, ctx_);
    cu_.streamSynchronize(stream_);
    for (CUevent e : profileEvents_) cu_.eventDestroy(e);
    for (auto& [b, g] : graphs_) cu_.graphExecDestroy(g);
    for (auto& [k, p] : plans_) {
      lt_.matrixLayoutDestroy(p.a);
      lt_.matrixLayoutDestroy(p.b);
      lt_.matrixLayoutDestroy(p.c);
    }
    if (pref_) lt_.preferenceDestroy(pref_);
    if (descBf16_) lt_.matmulDescDestroy(descBf16_);
    if (descF32_) lt_.matmulDescDestroy(descF32_);
    if (ltHandle_) lt_.destroy(ltHandle_);
    for (CUdeviceptr p : allocations_) cu_.memFree(p);
    if (arenaHost_) cu_.memFreeHost(arenaHost_);
    if (samplingInHost_) cu_.memFreeHost(samplingInHost_);
    if (samplingOutHost_) cu_.memFreeHost(samplingOutHost_);
    if (stream_) cu_.streamDestroy(stream_);
    if (module_) cu_.moduleUnload(module_);
    cu_.primaryCtxRelease(dev_);
  } catch (...) {
  }
}

void Model::dropGraphs() {
  ContextGuard guard(cu_, ctx_);
  checkCu(cu_.streamSynchronize(stream_), "cuStreamSynchronize");
  for (auto& [b, g] : graphs_) cu_.graphExecDestroy(g);
  graphs_.clear();
}

CUdeviceptr Model::alloc(size_t bytes) {
  CUdeviceptr p = 0;
  CUresult r = cu_.memAlloc(&p, std::max<size_t>(bytes, 256));
  if (r != CUDA_SUCCESS) {
    size_t free = 0, total = 0;
    cu_.memGetInfo(&free, &total);
    throw CudaError("CUDA out of memory allocating " + std::to_string(bytes >> 20) + " MiB (" +
                    std::to_string(free >> 20) + " MiB free of " + std::to_string(total >> 20) + ")");
  }
  allocations_.push_back(p);
  return p;
}

CUfunction Model::fn(const char* name) {
  auto it = functions_.find(name);
  if (it != functions_.end()) return it->second;
  CUfunction f;
  checkCu(cu_.moduleGetFunction(&f, module_, name), (std::string("cuModuleGetFunction ") + name).c_str());
  functions_[name] = f;
  return f;
}

void Model::launch(CUfunction f, Dim3 grid, Dim3 block, unsigned smem, std::vector<void*> args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  checkCu(cu_.launchKernel(f, grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, stream_, args.data(), nullptr),
          "cuLaunchKernel");
}

void Model::mark(const char* name) {
  if (profileStages_) markStep(name);
}

void Model::markStep(const char* name) {
  if (!profileStep_) return;
  if (profileUsed_ >= profileEvents_.size()) return;
  checkCu(cu_.eventRecord(profileEvents_[profileUsed_], stream_), "cuEventRecord");
  profileNames_.push_back(name);
  profileUsed_++;
}

void Model::tunePlan(GemmPlan& p, bool f32Out, CUdeviceptr x, CUdeviceptr w, CUdeviceptr y,
                     cublasLtMatmulHeuristicResult_t* results, int found) {
  CUevent start, stop;
  checkCu(cu_.eventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu_.eventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  const float alpha = 1.f, beta = 0.f;
  float best = 1e30f;
  for (int i = 0; i < found; i++) {
    if (results[i].state != 0 || results[i].workspaceSize > workspaceBytes_) continue;
    auto run = [&] {
      return lt_.matmul(ltHandle_, f32Out ? descF32_ : descBf16_, &alpha, (const void*)w, p.a, (const void*)x, p.b,
                        &beta, (const void*)y, p.c, (void*)y, p.c, &results[i].algo, (void*)workspace_,
                        workspaceBytes_, stream_);
    };
    if (run() != 0) continue;
    checkCu(cu_.eventRecord(start, stream_), "cuEventRecord");
    for (int r = 0; r < 5; r++) run();
    checkCu(cu_.eventRecord(stop, stream_), "cuEventRecord");
    checkCu(cu_.eventSynchronize(stop), "cuEventSynchronize");
    float ms = 0;
    cu_.eventElapsedTime(&ms, start, stop);
    if (ms < best) {
      best = ms;
      p.algo = results[i].algo;
    }
  }
  cu_.eventDestroy(start);
  cu_.eventDestroy(stop);
}

// y[rows, n] = x[rows, k] @ w[n, k]^T, in column-major terms D(n x rows) = W^T(n x k) X(k x rows).
void Model::gemm(CUdeviceptr x, CUdeviceptr w, CUdeviceptr y, int rows, int n, int k, bool f32Out) {
  if (rows == 0) return;
  if (useGemv_ && rows <= 4) {
    const std::string name = std::string(f32Out ? "gemv_f32_m" : "gemv_bf16_m") + std::to_string(rows);
    launch(fn(name.c_str()), {(unsigned)((n + 7) / 8)}, {256}, 0, {&x, &w, &y, &n, &k});
    return;
  }
  auto key = std::make_tuple(rows, n, k, f32Out);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    GemmPlan p;
    checkLt(lt_.matrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k), "layout A");
    checkLt(lt_.matrixLayoutCreate(&p.b, CUDA_R_16BF, k, rows, k), "layout B");
    checkLt(lt_.matrixLayoutCreate(&p.c, f32Out ? CUDA_R_32F : CUDA_R_16BF, n, rows, n), "layout C");
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    checkLt(lt_.algoGetHeuristic(ltHandle_, f32Out ? descF32_ : descBf16_, p.a, p.b, p.c, p.c, pref_, tuning_ ? 8 : 1,
                                 results, &found),
            "cublasLtMatmulAlgoGetHeuristic");
    if (found == 0) throw CudaError("cuBLASLt found no algorithm for a " + std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k) + " GEMM");
    p.algo = results[0].algo;
    p.hasAlgo = true;
    if (tuning_ && found > 1) tunePlan(p, f32Out, x, w, y, results, found);
    it = plans_.emplace(key, p).first;
  }
  const float alpha = 1.f, beta = 0.f;
  const GemmPlan& p = it->second;
  checkLt(lt_.matmul(ltHandle_, f32Out ? descF32_ : descBf16_, &alpha, (const void*)w, p.a, (const void*)x, p.b, &beta,
                     (const void*)y, p.c, (void*)y, p.c, &p.algo, (void*)workspace_, workspaceBytes_, stream_),
          "cublasLtMatmul");
}

void Model::uploadBf16(CUdeviceptr dst, const std::string& dtype, const uint8_t* bytes, size_t count) {
  ContextGuard guard(cu_, ctx_);
  const void* src = bytes;
  std::vector<uint16_t> converted;
  if (dtype != "bfloat16") {
    converted.resize(count);
    for (size_t i = 0; i < count; i++) converted[i] = floatToBf16(toFloat(dtype, bytes, i));
    src = converted.data();
  }
  checkCu(cu_.memcpyHtoDAsync(dst, src, count * 2, stream_), "upload weight");
  checkCu(cu_.streamSynchronize(stream_), "cuStreamSynchronize");
  weightBytes_ += count * 2;
}

void Model::uploadF32(CUdeviceptr dst, const std::string& dtype, const uint8_t* bytes, size_t count) {
  ContextGuard guard(cu_, ctx_);
  std::vector<float> converted(count);
  for (size_t i = 0; i < count; i++) converted[i] = toFloat(dtype, bytes, i);
  checkCu(cu_.memcpyHtoDAsync(dst, converted.data(), count * 4, stream_), "upload weight");
  checkCu(cu_.streamSynchronize(stream_), "cuStreamSynchronize");
  weightBytes_ += count * 4;
}

bool Model::uploadTensor(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                         const uint8_t* bytes, size_t numBytes) {
  size_t count = 1;
  for (int64_t s : shape) count *= (size_t)s;
  const size_t elem = dtype == "float32" ? 4 : 2;
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16")
    throw CudaError("tensor " + name + ": unsupported dtype " + dtype);
  if (count * elem != numBytes) throw CudaError("tensor " + name + ": byte length does not match its shape");
  const ModelConfig& c = cfg_;
  const size_t H = c.hiddenSize, D = c.headDim, I = c.intermediateSize, V = c.vocabSize;
  auto expect = [&](size_t n) {
    if (count != n)
      throw CudaError("tensor " + name + " has " + std::to_string(count) + " elements, expected " + std::to_string(n));
  };
  if (name == "model.embed_tokens.weight") {
    expect(V * H);
    uploadBf16(embed_, dtype, bytes, count);
    return true;
  }
  if (name == "lm_head.weight") {
    if (c.tieWordEmbeddings || !c.computesLogits) return false;
    expect(V * H);
    uploadBf16(lmHead_, dtype, bytes, count);
    return true;
  }
  if (name == "model.norm.weight") {
    expect(H);
    uploadF32(finalNorm_, dtype, bytes, count);
    return true;
  }
  const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return false;
  const int li = std::stoi(name.substr(prefix.size(), dot - prefix.size()));
  if (li < 0 || li >= c.numLayers) return false;
  const std::string rest = name.substr(dot + 1);
  Layer& l = layers_[li];
  const size_t qRows = (size_t)c.numHeads * D, kvRows = (size_t)c.numKvHeads * D;
  if (rest == "input_layernorm.weight") expect(H), uploadF32(l.inputNorm, dtype, bytes, count);
  else if (rest == "post_attention_layernorm.weight") expect(H), uploadF32(l.postNorm, dtype, bytes, count);
  else if (rest == "self_attn.q_proj.weight") expect(qRows * H), uploadBf16(l.qkv, dtype, bytes, count);
  else if (rest == "self_attn.k_proj.weight") expect(kvRows * H), uploadBf16(l.qkv + qRows * H * 2, dtype, bytes, count);
  else if (rest == "self_attn.v_proj.weight")
    expect(kvRows * H), uploadBf16(l.qkv + (qRows + kvRows) * H * 2, dtype, bytes, count);
  else if (rest == "self_attn.o_proj.weight") expect(H * qRows), uploadBf16(l.o, dtype, bytes, count);
  else if (rest == "mlp.gate_proj.weight") expect(I * H), uploadBf16(l.gateUp, dtype, bytes, count);
  else if (rest == "mlp.up_proj.weight") expect(I * H), uploadBf16(l.gateUp + I * H * 2, dtype, bytes, count);
  else if (rest == "mlp.down_proj.weight") expect(H * I), uploadBf16(l.down, dtype, bytes, count);
  else if (rest == "self_attn.q_proj.bias" && l.qkvBias) expect(qRows), uploadF32(l.qkvBias, dtype, bytes, count);
  else if (rest == "self_attn.k_proj.bias" && l.qkvBias)
    expect(kvRows), uploadF32(l.qkvBias + qRows * 4, dtype, bytes, count);
  else if (rest == "self_attn.v_proj.bias" && l.qkvBias)
    expect(kvRows), uploadF32(l.qkvBias + (qRows + kvRows) * 4, dtype, bytes, count);
  else if (rest == "self_attn.o_proj.bias" && l.oBias) expect(H), uploadF32(l.oBias, dtype, bytes, count);
  else if (rest == "mlp.gate_proj.bias" && l.gateUpBias) expect(I), uploadF32(l.gateUpBias, dtype, bytes, count);
  else if (rest == "mlp.up_proj.bias" && l.gateUpBias) expect(I), uploadF32(l.gateUpBias + I * 4, dtype, bytes, count);
  else if (rest == "mlp.down_proj.bias" && l.downBias) expect(H), uploadF32(l.downBias, dtype, bytes, count);
  else if (rest == "self_attn.q_norm.weight" && l.qNorm) expect(D), uploadF32(l.qNorm, dtype, bytes, count);
  else if (rest == "self_attn.k_norm.weight" && l.kNorm) expect(D), uploadF32(l.kNorm, dtype, bytes, count);
  else return false;
  return true;
}

void Model::initRandomWeights(uint64_t seed, int shard) {
  ContextGuard guard(cu_, ctx_);
  const ModelConfig& c = cfg_;
  const size_t H = c.hiddenSize, D = c.headDim, I = c.intermediateSize, V = c.vocabSize;
  const float scale = 0.02f * std::sqrt(3.f);  // uniform with std 0.02, transformers' initializer_range
  // One stream per tensor; a tensor every rank holds whole (embedding, norms, o/down biases) gets
  // the same stream on every rank, a split one a stream of its own per shard.
  uint64_t counter = 0;
  auto streamFor = [&](bool split) {
    const uint64_t s = seed * 0x9E3779B97F4A7C15ull + ++counter;
    return split ? s ^ ((uint64_t)(shard + 1) * 0xD1B54A32D192ED03ull) : s;
  };
  auto fillBf16 = [&](CUdeviceptr p, size_t n, bool split) {
    uint64_t s = streamFor(split);
    if (!p) return;
    float sc = scale;
    launch(fn("fill_uniform_bf16"), {1024}, {256}, 0, {&p, &n, &s, &sc});
    weightBytes_ += n * 2;
  };
  auto fillF32 = [&](CUdeviceptr p, size_t n, float center, float spread, bool split) {
    uint64_t s = streamFor(split);
    if (!p) return;
    launch(fn("fill_uniform_f32"), {64}, {256}, 0, {&p, &n, &s, &center, &spread});
    weightBytes_ += n * 4;
  };
  fillBf16(embed_, V * H, false);
  if (!c.tieWordEmbeddings) fillBf16(lmHead_, V * H, false);
  fillF32(finalNorm_, H, 1.f, 0.f, false);
  for (Layer& l : layers_) {
    fillBf16(l.qkv, (size_t)qkvRows_ * H, true);
    fillBf16(l.o, H * c.numHeads * D, true);
    fillBf16(l.gateUp, 2 * I * H, true);
    fillBf16(l.down, H * I, true);
    fillF32(l.inputNorm, H, 1.f, 0.f, false);
    fillF32(l.postNorm, H, 1.f, 0.f, false);
    fillF32(l.qkvBias, qkvRows_, 0.f, 0.02f, true);
    fillF32(l.oBias, H, 0.f, 0.02f, false);
    fillF32(l.gateUpBias, 2 * I, 0.f, 0.02f, true);
    fillF32(l.downBias, H, 0.f, 0.02f, false);
    fillF32(l.qNorm, D, 1.f, 0.f, false);
    fillF32(l.kNorm, D, 1.f, 0.f, false);
  }
  checkCu(cu_.streamSynchronize(stream_), "random weights");
}

int Model::kvBlocksFor(size_t bytes, double utilization) {
  ContextGuard guard(cu_, ctx_);
  const ModelConfig& c = cfg_;
  const size_t blockBytes = (size_t)2 * c.numLayers * c.numKvHeads * kBlockSize * c.headDim * 2;
  size_t free = 0, total = 0;
  checkCu(cu_.memGetInfo(&free, &total), "cuMemGetInfo");
  const size_t reserve = 512ull << 20;  // CUDA graphs, cuBLASLt, NCCL and the driver's own growth
  size_t budget;
  if (bytes > 0) {
    budget = bytes;
  } else {
    const double used = (double)(total - free);
    const double allowed = utilization * (double)total - used - (double)reserve;
    if (allowed <= 0) throw CudaError("gpu memory utilization " + std::to_string(utilization) + " leaves no room for the KV cache after the weights");
    budget = (size_t)allowed;
  }
  if (budget + reserve > free) budget = free > reserve ? free - reserve : 0;
  const int blocks = (int)std::min<size_t>(budget / blockBytes, 1u << 30);
  if (blocks < 1) throw CudaError("no GPU memory left for even one KV block");
  return blocks;
}

void Model::allocateKvBlocks(int blocks) {
  ContextGuard guard(cu_, ctx_);
  if (kvCache_) throw CudaError("KV cache already allocated");
  const ModelConfig& c = cfg_;
  kvLayerBytes_ = (size_t)blocks * c.numKvHeads * kBlockSize * c.headDim * 2;
  kvCache_ = alloc(kvLayerBytes_ * 2 * c.numLayers);
  // NOTE: the tensor-core decode reads whole 16-token blocks; slots never written must not be NaN.
  checkCu(cu_.memsetD8Async(kvCache_, 0, kvLayerBytes_ * 2 * c.numLayers, stream_), "clear KV cache");
  checkCu(cu_.streamSynchronize(stream_), "clear KV cache");
  numKvBlocks_ = blocks;
}

int Model::graphBucketFor(int numSeqs) const {
  if (!cfg_.useCudaGraphs || profileStages_) return 0;
  for (int b : buckets_)
    if (b >= numSeqs) return b;
  return 0;
}

void Model::growStagingPair(CUdeviceptr& device, uint8_t*& host, size_t& capacity, size_t bytes) {
  if (bytes <= capacity) return;
  size_t n = std::max(bytes, capacity * 2);
  if (device) cu_.memFree(device), allocations_.erase(std::find(allocations_.begin(), allocations_.end(), device));
  if (host) cu_.memFreeHost(host);
  device = alloc(n);
  checkCu(cu_.memAllocHost((void**)&host, n), "cuMemAllocHost");
  capacity = n;
}

void Model::ensureSamplingBuffers(size_t inBytes, size_t outBytes) {
  growStagingPair(samplingIn_, samplingInHost_, samplingInBytes_, inBytes);
  growStagingPair(samplingOut_, samplingOutHost_, samplingOutBytes_, outBytes);
}

void Model::copyInputs(const StepPlan& in, int numTokens, int numSeqs, int numLogitRows) {
  auto put = [&](const Region& r, const std::vector<int>& v, size_t count) {
    if (count == 0) return;
    if (count > r.count || count > v.size()) throw CudaError("step input larger than its buffer");
    std::memcpy(arenaHost_ + r.offset, v.data(), count * 4);
    checkCu(cu_.memcpyHtoDAsync(dev(r), arenaHost_ + r.offset, count * 4, stream_), "upload step");
  };
  put(rTokens_, in.tokenIds, numTokens);
  put(rPositions_, in.positions, numTokens);
  put(rSlots_, in.slotMapping, numTokens);
  put(rQueryStart_, in.queryStart, numSeqs + 1);
  put(rContextLens_, in.contextLens, numSeqs);
  put(rBlockTables_, in.blockTables, (size_t)numSeqs * maxBlocksPerSeq_);
  put(rWork_, in.workItems, in.workItems.size());
  put(rLogitRows_, in.logitRows, numLogitRows);
  if (in.anyLora) put(rTokenSlots_, in.tokenSlots, numTokens);
}

void Model::checkAdapter(const LoraAdapter& adapter) const {
  const ModelConfig& c = cfg_;
  if (c.maxLoras == 0) throw CudaError("CUDA runner: LoRA is off (maxLoras 0)");
  const size_t H = c.hiddenSize, I = c.intermediateSize, q = (size_t)c.numHeads * c.headDim, kv = (size_t)c.numKvHeads * c.headDim;
  static const char* names[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const LoraModule& m : adapter.modules) {
    if (m.proj < 0 || m.proj >= kNumLoraProjections) throw CudaError("LoRA module: unknown projection");
    const std::string where = "LoRA module layer " + std::to_string(m.layer) + " " + names[m.proj];
    if (m.layer < 0 || m.layer >= c.numLayers) throw CudaError(where + ": layer out of range");
    if (m.rank <= 0 || m.rank > c.maxLoraRank)
      throw CudaError(where + ": rank " + std::to_string(m.rank) + " exceeds maxLoraRank " + std::to_string(c.maxLoraRank));
    const size_t in = m.proj == kLoraO ? q : m.proj == kLoraDown ? I : H;
    const size_t out = m.proj == kLoraQ ? q : (m.proj == kLoraK || m.proj == kLoraV) ? kv
                       : (m.proj == kLoraGate || m.proj == kLoraUp) ? I : H;
    if (m.a.size() != (size_t)m.rank * in || m.b.size() != out * m.rank)
      throw CudaError(where + ": A must be [" + std::to_string(m.rank) + ", " + std::to_string(in) + "] and B [" +
                      std::to_string(out) + ", " + std::to_string(m.rank) + "]");
  }
}

void Model::setAdapter(int slot, const LoraAdapter* adapter) {
  const ModelConfig& c = cfg_;
  if (slot < 0 || slot >= c.maxLoras)
    throw CudaError("adapter slot " + std::to_string(slot) + " is outside 0.." + std::to_string(c.maxLoras - 1));
  ContextGuard guard(cu_, ctx_);
  int rank = 0;
  if (adapter) {
    checkAdapter(*adapter);
    const size_t R = c.maxLoraRank, H = c.hiddenSize, I = c.intermediateSize, q = (size_t)c.numHeads * c.headDim,
                 kv = (size_t)c.numKvHeads * c.headDim;
    const CUdeviceptr base = loraWeights_ + (size_t)slot * loraSlotElems_ * 4;
    checkCu(cu_.memsetD8Async(base, 0, loraSlotElems_ * 4, stream_), "clear LoRA slot");
    std::vector<float> staged;
    for (const LoraModule& m : adapter->modules) {
      static const int groupOf[] = {0, 0, 0, 1, 2, 2, 3};
      static const int segOf[] = {0, 1, 2, 0, 0, 1, 0};
      const LoraGroup& g = loraGroups_[(size_t)m.layer * 4 + groupOf[m.proj]];
      const size_t in = m.proj == kLoraO ? q : m.proj == kLoraDown ? I : H;
      const size_t out = m.b.size() / m.rank;
      const size_t col = m.proj == kLoraK ? q : m.proj == kLoraV ? q + kv : m.proj == kLoraUp ? I : 0;
      const size_t aCount = (size_t)m.rank * in, bCount = out * R;
      staged.assign(bCount, 0.f);
      for (size_t o = 0; o < out; o++)
        for (int k = 0; k < m.rank; k++) staged[o * R + k] = m.b[o * m.rank + k];
      checkCu(cu_.memcpyHtoDAsync(base + (g.a + segOf[m.proj] * R * in) * 4, m.a.data(), aCount * 4, stream_),
              "upload LoRA A");
      checkCu(cu_.memcpyHtoDAsync(base + (g.b + col * R) * 4, staged.data(), bCount * 4, stream_), "upload LoRA B");
      // NOTE: the staging buffer is reused, so each module's copies must land first.
      checkCu(cu_.streamSynchronize(stream_), "upload LoRA module");
      rank = std::max(rank, m.rank);
    }
  }
  loraLoaded_[slot] = adapter != nullptr;
  loraRankHost_[slot] = rank;
  loraScaleHost_[slot] = adapter ? adapter->scale : 0.f;
  checkCu(cu_.memcpyHtoDAsync(loraRanks_, loraRankHost_.data(), loraRankHost_.size() * 4, stream_), "upload LoRA ranks");
  checkCu(cu_.memcpyHtoDAsync(loraScales_, loraScaleHost_.data(), loraScaleHost_.size() * 4, stream_),
          "upload LoRA scales");
  checkCu(cu_.streamSynchronize(stream_), "upload LoRA adapter");
}

// y[:, :n] += scale[slot] * (x @ A^T) @ B^T for the tokens with an adapter; group 0 qkv, 1 o, 2 gate_up, 3 down.
void Model::applyLora(int layer, int group, CUdeviceptr x, int k, CUdeviceptr y, int n, int T) {
  const LoraGroup& g = loraGroups_[(size_t)layer * 4 + group];
  CUdeviceptr slots = dev(rTokenSlots_), a = loraWeights_ + g.a * 4, b = loraWeights_ + g.b * 4;
  long long slotStride = (long long)loraSlotElems_;
  int R = cfg_.maxLoraRank, uld = g.numSeg * R, numSeg = g.numSeg, e0 = g.segEnd0, e1 = g.segEnd1;
  const unsigned tiles = (unsigned)((T + 7) / 8);
  launch(fn("lora_shrink"), {tiles, (unsigned)(numSeg * ((R + 3) / 4))}, {128}, 0,
         {&x, &k, &k, &slots, &T, &a, &slotStride, &loraRanks_, &R, &loraU_, &uld});
  launch(fn("lora_expand"), {tiles, (unsigned)((n + 255) / 256)}, {256}, (unsigned)(8 * uld * 4),
         {&loraU_, &uld, &slots, &T, &b, &slotStride, &loraRanks_, &loraScales_, &R, &y, &n, &n, &e0, &e1});
  mark("lora");
}

void Model::runLayers(int T, int S, int numWork, bool anyDecode, bool lora) {
  const ModelConfig& c = cfg_;
  int H = c.hiddenSize, I = c.intermediateSize, nH = c.numHeads, nKV = c.numKvHeads, D = c.headDim;
  float eps = c.rmsNormEps;
  CUdeviceptr tokens = dev(rTokens_), positions = dev(rPositions_), slots = dev(rSlots_),
              queryStart = dev(rQueryStart_), contextLens = dev(rContextLens_), blockTables = dev(rBlockTables_),
              work = dev(rWork_);
  // add_rmsnorm: one thread per 8 elements, whole warps (448 threads for hidden 3584).
  const unsigned addNormThreads = std::min(1024u, (unsigned)((H / 8 + 31) / 32 * 32));
  launch(fn("embed_tokens"), {(unsigned)T}, {256}, 0, {&tokens, &embed_, &residual_, &H});
  mark("embed");

  const std::string prefillName = "attention_prefill_d" + std::to_string(D);
  const int G = nH / nKV;
  (void)G;
  CUfunction prefillFn = fn(prefillName.c_str()), decodeFn = fn(decodeKernel_.c_str());
  const unsigned prefillSmem = (unsigned)attn::prefillSmemBytes(D);
  float scaleLog2 = (float)(1.0 / std::sqrt((double)D) * 1.4426950408889634);
  float attnScale = c.attentionScale;
  int rotaryDim = c.rotaryDim, maxBlocks = maxBlocksPerSeq_, maxSplits = maxSplits_;
  const bool vecSilu = !c.mlpBias;

  for (int li = 0; li < c.numLayers; li++) {
    Layer& l = layers_[li];
    CUdeviceptr prevDelta = li == 0 ? 0 : delta_;
    CUdeviceptr prevBias = li == 0 ? 0 : layers_[li - 1].downBias;
    launch(fn("add_rmsnorm"), {(unsigned)T}, {addNormThreads}, 0,
           {&residual_, &prevDelta, &prevBias, &l.inputNorm, &normed_, &H, &eps});
    mark("norms");
    gemm(normed_, l.qkv, qkvOut_, T, qkvRows_, H, false);
    mark("gemm qkv");
    if (lora) applyLora(li, 0, normed_, H, qkvOut_, qkvRows_, T);
    CUdeviceptr kCache = kvCache_ + (size_t)li * 2 * kvLayerBytes_, vCache = kCache + kvLayerBytes_;
    launch(fn("qkv_rope_cache"), {(unsigned)T, (unsigned)((qkvRows_ / D + 3) / 4)}, {128}, 4 * D * 4,
           {&qkvOut_, &l.qkvBias, &l.qNorm, &l.kNorm, &positions, &slots, &invFreq_, &attnScale, &rotaryDim, &q_,
            &kCache, &vCache, &nH, &nKV, &D, &eps});
    mark("rope+cache");
    if (numWork > 0) {
      launch(prefillFn, {(unsigned)numWork, (unsigned)nH}, {128}, prefillSmem,
             {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &work, &attnOut_, &nH, &nKV,
              &scaleLog2});
      mark("attn prefill");
    }
    if (anyDecode) {
      // NOTE: the split count depends only on the batch size, so a graph replays it unchanged.
      int chunkTokens = decodeSimt_ ? attn::PART : kBlockSize, singleWritten = decodeSimt_ ? 0 : 1;
      int splitLimit = decodeSimt_ ? maxSplits
                                   : std::max(1, std::min(maxSplits, (2 * numSms_ + S * nKV - 1) / (S * nKV)));
      if (decodeSimt_) {
        launch(decodeFn, {(unsigned)S, (unsigned)nKV, (unsigned)maxSplits}, {128}, 0,
               {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &partOut_, &partMax_,
                &partSum_, &nH, &nKV, &maxSplits, &scaleLog2});
      } else {
        launch(decodeFn, {(unsigned)S, (unsigned)nKV, (unsigned)splitLimit}, {128}, (unsigned)attn::decodeSmemBytes(D),
               {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &partOut_, &partMax_,
                &partSum_, &attnOut_, &nH, &nKV, &maxSplits, &splitLimit, &scaleLog2});
      }
      launch(fn("attention_decode_combine"), {(unsigned)S, (unsigned)nH}, {(unsigned)std::max(D, 32)}, 0,
             {&partOut_, &partMax_, &partSum_, &queryStart, &contextLens, &attnOut_, &nH, &D, &maxSplits, &chunkTokens,
              &splitLimit, &singleWritten});
      mark("attn decode");
    }
    gemm(attnOut_, l.o, delta_, T, H, nH * D, false);
    mark("gemm o");
    if (lora) applyLora(li, 1, attnOut_, nH * D, delta_, H, T);
    allReduceDelta(T);
    launch(fn("add_rmsnorm"), {(unsigned)T}, {addNormThreads}, 0,
           {&residual_, &delta_, &l.oBias, &l.postNorm, &normed_, &H, &eps});
    mark("norms");
    gemm(normed_, l.gateUp, gateUpOut_, T, 2 * I, H, false);
    mark("gemm gate_up");
    if (lora) applyLora(li, 2, normed_, H, gateUpOut_, 2 * I, T);
    const unsigned siluBlocks = (unsigned)std::min<size_t>(((size_t)T * I / 8 + 255) / 256, 65535);
    if (vecSilu) {
      launch(fn("silu_mul8"), {siluBlocks}, {256}, 0, {&gateUpOut_, &act_, &T, &I});
    } else {
      launch(fn("silu_mul"), {siluBlocks * 8}, {256}, 0, {&gateUpOut_, &l.gateUpBias, &act_, &T, &I});
    }
    mark("silu");
    gemm(act_, l.down, delta_, T, H, I, false);
    mark("gemm down");
    if (lora) applyLora(li, 3, act_, I, delta_, H, T);
    allReduceDelta(T);
  }
}

// Tensor parallelism: o_proj and down_proj (and their LoRA deltas) left a partial sum in delta_;
// summed in bf16 over the group, as vLLM does (half the bytes of fp32 on the link).
void Model::allReduceDelta(int T) {
  if (!comm_) return;
  checkNccl(nccl().allReduce((const void*)delta_, (void*)delta_, (size_t)T * cfg_.hiddenSize, ncclBfloat16, ncclSum, comm_,
                             stream_),
            "ncclAllReduce");
  mark("all-reduce");
}

void Model::computeLogits(int rowBegin, int numRows) {
  const ModelConfig& c = cfg_;
  int H = c.hiddenSize;
  float eps = c.rmsNormEps;
  CUdeviceptr rows = dev(rLogitRows_) + (size_t)rowBegin * 4;
  CUdeviceptr lastBias = layers_.back().downBias;
  const unsigned normThreads = H >= 2048 ? 1024 : (H >= 512 ? 256 : 64);
  launch(fn("final_norm_rows"), {(unsigned)numRows}, {normThreads}, 0,
         {&residual_, &delta_, &lastBias, &rows, &finalNorm_, &finalNormed_, &H, &eps});
  mark("norms");
  gemm(finalNormed_, lmHead_, logits_, numRows, c.vocabSize, H, true);
  mark("gemm lm_head");
}

// A decode step of a graph bucket: replays the bucket's graph (layers and logits rows), capturing
// it on the bucket's first step.
void Model::runDecodeGraph(const StepPlan& in) {
  const int B = in.graphBucket;
  const bool lora = in.anyLora;
  copyInputs(in, B, B, B);
  auto forward = [&] {
    runLayers(B, B, 0, true, lora);
    if (cfg_.computesLogits) computeLogits(0, B);
  };
  auto it = graphs_.find({B, lora});
  if (it != graphs_.end()) {
    checkCu(cu_.graphLaunch(it->second, stream_), "cuGraphLaunch");
    return;
  }
  profileStep_ = false;  // capturing: not a step as it usually runs
  // First step of this bucket: run it eagerly (timing the GEMM algorithms for its shapes), then
  // capture the same launches for replay. Under tensor parallelism every rank does this in the
  // same step, so their all-reduces meet in the eager run and are recorded alike in the graphs.
  tuning_ = true;
  try {
    forward();
  } catch (...) {
    tuning_ = false;
    throw;
  }
  tuning_ = false;
  CUgraph graph;
  checkCu(cu_.streamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  try {
    forward();
  } catch (...) {
    cu_.streamEndCapture(stream_, &graph);
    throw;
  }
  checkCu(cu_.streamEndCapture(stream_, &graph), "cuStreamEndCapture");
  CUgraphExec exec;
  checkCu(cu_.graphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
  cu_.graphDestroy(graph);
  graphs_[{B, lora}] = exec;
}

void Model::runEager(const StepPlan& in) {
  const int S = in.numSeqs;
  bool anyDecode = false;
  for (int s = 0; s < S; s++) anyDecode |= in.queryStart[s + 1] - in.queryStart[s] == 1;
  copyInputs(in, in.numTokens, S, (int)in.logitRows.size());
  runLayers(in.numTokens, S, (int)in.workItems.size() / 2, anyDecode, in.anyLora);
}

// Waits for the step's GPU work and, when profiling, adds its stage times up.
void Model::endStep(std::chrono::steady_clock::time_point wallStart) {
  if (!profileStages_) markStep("step");
  const auto queuedAt = std::chrono::steady_clock::now();
  checkCu(cu_.streamSynchronize(stream_), "step");
  if (!profileStep_) return;
  StageProfile& p = profiles_[profileKind_];
  for (size_t i = 1; i < profileUsed_; i++) {
    float ms = 0;
    cu_.eventElapsedTime(&ms, profileEvents_[i - 1], profileEvents_[i]);
    p.stageMs[profileNames_[i]] += ms;
  }
  p.steps++;
  p.wallMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wallStart).count();
  p.parseMs += stepParseMs_;
  p.launchedMs += std::chrono::duration<double, std::milli>(launchedAt_ - wallStart).count();
  p.queuedMs += std::chrono::duration<double, std::milli>(queuedAt - wallStart).count();
}

RowResults Model::execute(const StepPlan& in) {
  ContextGuard guard(cu_, ctx_);
  const auto wallStart = std::chrono::steady_clock::now();
  profileStep_ = profiling_;
  if (profiling_)
    profileKind_ = in.numSeqs == in.numTokens ? "decode, " + std::to_string(in.numSeqs) + " sequences" : "prefill";
  profileUsed_ = 0;
  profileNames_.clear();
  markStep("begin");
  if (!kvCache_) throw CudaError("execute() before the KV cache was allocated");
  if (in.graphBucket > 0) runDecodeGraph(in);
  else runEager(in);
  if (profiling_) {
    launchedAt_ = std::chrono::steady_clock::now();
    stepParseMs_ = std::chrono::duration<double, std::milli>(wallStart - in.received).count();
  }
  if (!cfg_.computesLogits) {
    endStep(wallStart);
    return RowResults{};
  }

  const ModelConfig& c = cfg_;
  int V = c.vocabSize;
  const int numSample = (int)in.sampleRows.size(), numPos = (int)in.positionRows.size();
  const int K = in.sampleTopK, PK = in.positionTopK;

  // Sampling inputs: rows, then the flattened token lists.
  size_t off = 0;
  auto place = [&](size_t bytes) {
    size_t o = off;
    off = align256(off + bytes);
    return o;
  };
  const size_t oSample = place(numSample * sizeof(SampleRow)), oPos = place(numPos * sizeof(PositionRow)),
               oPrompt = place(in.promptTokenIds.size() * 4), oOutput = place(in.outputTokenIds.size() * 4),
               oBiasIds = place(in.biasTokenIds.size() * 4), oBiasValues = place(in.biasValues.size() * 4);
  const size_t inBytes = off;
  off = 0;
  const size_t oIds = place(numSample * 4), oLps = place(numSample * 4), oLse = place(numSample * 4),
               oTopIds = place((size_t)numSample * K * 4), oTopLps = place((size_t)numSample * K * 4),
               oPosTarget = place(numPos * 4), oPosTopIds = place((size_t)numPos * PK * 4),
               oPosTopLps = place((size_t)numPos * PK * 4);
  const size_t outBytes = off;
  ensureSamplingBuffers(std::max<size_t>(inBytes, 256), std::max<size_t>(outBytes, 256));
  auto copyIn = [&](size_t o, const void* src, size_t bytes) {
    if (bytes) std::memcpy(samplingInHost_ + o, src, bytes);
  };
  copyIn(oSample, in.sampleRows.data(), numSample * sizeof(SampleRow));
  copyIn(oPos, in.positionRows.data(), numPos * sizeof(PositionRow));
  copyIn(oPrompt, in.promptTokenIds.data(), in.promptTokenIds.size() * 4);
  copyIn(oOutput, in.outputTokenIds.data(), in.outputTokenIds.size() * 4);
  copyIn(oBiasIds, in.biasTokenIds.data(), in.biasTokenIds.size() * 4);
  copyIn(oBiasValues, in.biasValues.data(), in.biasValues.size() * 4);
  checkCu(cu_.memcpyHtoDAsync(samplingIn_, samplingInHost_, inBytes, stream_), "upload sampling inputs");

  CUdeviceptr dSample = samplingIn_ + oSample, dPos = samplingIn_ + oPos, dPrompt = samplingIn_ + oPrompt,
              dOutput = samplingIn_ + oOutput, dBiasIds = samplingIn_ + oBiasIds,
              dBiasValues = samplingIn_ + oBiasValues;
  CUdeviceptr dIds = samplingOut_ + oIds, dLps = samplingOut_ + oLps, dLse = samplingOut_ + oLse,
              dTopIds = samplingOut_ + oTopIds, dTopLps = samplingOut_ + oTopLps,
              dPosTarget = samplingOut_ + oPosTarget, dPosTopIds = samplingOut_ + oPosTopIds,
              dPosTopLps = samplingOut_ + oPosTopLps;

  auto sampleChunk = [&](int chunkBase, int sampleBegin, int sampleEnd, int posBegin, int posEnd) {
    int chunk = chunkBase, sb = sampleBegin, pb = posBegin, k = K, pk = PK;
    if (sampleEnd > sampleBegin) {
      launch(fn("sample_row_logprobs"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
             {&logits_, &V, &chunk, &dSample, &sb, &k, &dLse, &dTopIds, &dTopLps});
      if (in.anyProcessing) {
        launch(fn("apply_penalties"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
               {&logits_, &processed_, &V, &chunk, &dSample, &sb, &dPrompt, &dOutput, &dBiasIds, &dBiasValues,
                &counts_});
      }
      launch(fn("sample_rows"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
             {&logits_, &processed_, &V, &chunk, &dSample, &sb, &dLse, &dIds, &dLps});
    }
    mark("sampling");
    if (posEnd > posBegin) {
      launch(fn("position_row_logprobs"), {(unsigned)(posEnd - posBegin)}, {1024}, 0,
             {&logits_, &V, &chunk, &dPos, &pb, &pk, &dPosTarget, &dPosTopIds, &dPosTopLps});
    }
  };

  if (in.graphBucket > 0) {
    sampleChunk(0, 0, numSample, 0, 0);  // the graph computed the bucket's logits rows
  } else {
    // Logits rows: sample rows [0, numSample), then position rows; in chunks of logitsCap_.
    const int numRows = (int)in.logitRows.size();
    for (int base = 0; base < numRows; base += logitsCap_) {
      const int end = std::min(numRows, base + logitsCap_);
      computeLogits(base, end - base);
      const int sb = std::min(base, numSample), se = std::min(end, numSample);
      const int pb = std::max(base, numSample) - numSample, pe = std::max(end, numSample) - numSample;
      sampleChunk(base, sb, se, pb, pe);
    }
  }
  checkCu(cu_.memcpyDtoHAsync(samplingOutHost_, samplingOut_, outBytes, stream_), "download results");
  endStep(wallStart);

  RowResults r;
  auto ints = [&](size_t o, size_t n) {
    const int* p = reinterpret_cast<const int*>(samplingOutHost_ + o);
    return std::vector<int>(p, p + n);
  };
  auto floats = [&](size_t o, size_t n) {
    const float* p = reinterpret_cast<const float*>(samplingOutHost_ + o);
    return std::vector<float>(p, p + n);
  };
  r.sampledTokenIds = ints(oIds, numSample);
  r.sampledLogprobs = floats(oLps, numSample);
  r.topTokenIds = ints(oTopIds, (size_t)numSample * K);
  r.topLogprobs = floats(oTopLps, (size_t)numSample * K);
  r.positionTargetLogprobs = floats(oPosTarget, numPos);
  r.positionTopTokenIds = ints(oPosTopIds, (size_t)numPos * PK);
  r.positionTopLogprobs = floats(oPosTopLps, (size_t)numPos * PK);
  (void)oLse;
  return r;
}

}  // namespace swiftlet_cuda
