#include "shard_group.h"

#include <algorithm>

namespace swiftlet_cuda {

ShardGroup::ShardGroup(std::vector<ModelConfig> configs, const EnvFlags& flags) {
  if (configs.empty()) throw CudaError("a model needs at least one GPU");
  for (const ModelConfig& c : configs) shards_.push_back(std::make_unique<Model>(c, flags));
  if (configs.size() == 1) return;

  setNcclDefaults();
  const NcclApi& n = nccl();
  std::vector<int> devices;
  for (const ModelConfig& c : configs) devices.push_back(c.device);
  comms_.resize(configs.size());
  checkNccl(n.commInitAll(comms_.data(), (int)comms_.size(), devices.data()), "ncclCommInitAll");
  for (size_t r = 0; r < shards_.size(); r++) shards_[r]->setCommunicator(comms_[r]);
  errors_.resize(shards_.size());
  for (int r = 1; r < size(); r++) workers_.emplace_back(&ShardGroup::workerLoop, this, r);
}

ncclUniqueId newNcclUniqueId() {
  setNcclDefaults();
  ncclUniqueId id;
  checkNccl(nccl().getUniqueId(&id), "ncclGetUniqueId");
  return id;
}

ShardGroup::ShardGroup(const ModelConfig& config, const EnvFlags& flags, const ProcessRank& process) {
  if (process.size < 2 || process.rank < 0 || process.rank >= process.size)
    throw CudaError("process rank " + std::to_string(process.rank) + " of " + std::to_string(process.size));
  // NOTE: constructing the Model leaves its GPU's context current on this thread, which is the
  // device ncclCommInitRank binds the communicator to.
  shards_.push_back(std::make_unique<Model>(config, flags));
  firstRank_ = process.rank;
  setNcclDefaults();
  comms_.resize(1);
  checkNccl(nccl().commInitRank(&comms_[0], process.size, process.id, process.rank), "ncclCommInitRank");
  shards_[0]->setCommunicator(comms_[0]);
  errors_.resize(1);
}

ShardGroup::~ShardGroup() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  if (!comms_.empty()) {
    for (auto& m : shards_) {
      try {
        m->dropGraphs();
      } catch (...) {
      }
    }
    for (ncclComm_t c : comms_) nccl().commDestroy(c);
  }
  shards_.clear();
}

Model& ShardGroup::shard(int rank) {
  if (rank < 0 || rank >= size())
    throw CudaError("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(size() - 1));
  return *shards_[rank];
}

void ShardGroup::workerLoop(int rank) {
  long seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
    }
    std::exception_ptr error;
    try {
      (*job)(rank);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_[rank] = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void ShardGroup::onEveryRank(const std::function<void(int)>& work) {
  if (size() == 1) return work(0);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &work;
    pending_ = size() - 1;
    generation_++;
    std::fill(errors_.begin(), errors_.end(), nullptr);
  }
  wake_.notify_all();
  std::exception_ptr first;
  try {
    work(0);
  } catch (...) {
    first = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  for (const std::exception_ptr& e : errors_)
    if (!first && e) first = e;
  if (first) std::rethrow_exception(first);
}

void ShardGroup::initRandomWeights(uint64_t seed, const RandomLinearFormat& format) {
  for (int r = 0; r < size(); r++) shards_[r]->initRandomWeights(seed, firstRank_ + r, format);
}

int ShardGroup::allocateKvCache(size_t bytes, double utilization) {
  for (auto& m : shards_) m->checkWeights();
  int blocks = 1 << 30;
  for (auto& m : shards_) blocks = std::min(blocks, m->kvBlocksFor(bytes / shards_.size(), utilization));
  for (auto& m : shards_) m->allocateKvBlocks(blocks);
  return blocks;
}

RowResults ShardGroup::execute(const StepPlan& plan) {
  RowResults result;
  onEveryRank([&](int rank) {
    RowResults r = shards_[rank]->execute(plan);
    if (rank == 0) result = std::move(r);
  });
  return result;
}

void ShardGroup::forward(const StepPlan& plan) {
  onEveryRank([&](int rank) { shards_[rank]->forward(plan); });
}

// NOTE: rank 0's work always runs on onEveryRank's caller, so it is called here directly.
RowResults ShardGroup::sample(const StepPlan& plan) { return shards_[0]->sample(plan); }

void ShardGroup::checkAdapter(const std::vector<const LoraAdapter*>& perRank) const {
  if ((int)perRank.size() != (int)shards_.size())
    throw CudaError("an adapter needs one part per GPU (" + std::to_string(shards_.size()) + "), got " +
                    std::to_string(perRank.size()));
  for (size_t r = 0; r < shards_.size(); r++)
    if (perRank[r]) shards_[r]->checkAdapter(*perRank[r]);
}

void ShardGroup::setAdapter(int slot, const std::vector<const LoraAdapter*>& perRank) {
  for (size_t r = 0; r < shards_.size(); r++) shards_[r]->setAdapter(slot, perRank.empty() ? nullptr : perRank[r]);
}

}  // namespace swiftlet_cuda
