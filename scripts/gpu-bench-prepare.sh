# Sourced by the GPU benchmark scripts (gpu-bench.sh, gpu-quant-bench.sh): moves to the repository
# root and builds what a fresh GPU machine lacks (the CUDA part, needing nvcc; dist/, needing npm).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f native/cuda/build/kernels.fatbin ] && [ -f native/cuda/build/swiftlet_cuda.node ] || make -C native/cuda
[ -f dist/bench/gpu-bench.js ] || npx tsc -p .
