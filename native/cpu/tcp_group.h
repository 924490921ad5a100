// The CPU's collective for tensor parallelism across processes: one TCP connection from each
// rank > 0 to rank 0, and an all-reduce (sum) over them, run on the step's own thread.
// The NCCL communicator plays this part on CUDA; this one is for correctness on any host (CI,
// two processes on one machine), not for speed: rank 0 sums in rank order and sends the sum
// back, so every rank ends with the same bits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace swiftlet {

class TcpGroup {
 public:
  TcpGroup(int rank, int size);
  ~TcpGroup();
  TcpGroup(const TcpGroup&) = delete;
  TcpGroup& operator=(const TcpGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  /** Rank 0: starts listening on every interface at `port` (0: any free one) and returns the port. */
  int listen(int port);
  /** Rank 0: takes one connection from each other rank (they say their rank first); throws after `timeoutMs`. */
  void accept(int timeoutMs);
  /** Rank > 0: connects to rank 0 at host:port, retrying until `timeoutMs` has passed. */
  void connect(const std::string& host, int port, int timeoutMs);

  /** data[0..count) becomes the sum over the ranks of theirs. Throws once a peer is gone, and on every call after. */
  void allReduceSum(float* data, int64_t count);

 private:
  void sendAll(int rank, const void* data, size_t bytes);
  void recvAll(int rank, void* data, size_t bytes);
  [[noreturn]] void fail(const std::string& message);

  int rank_;
  int size_;
  int listenFd_ = -1;
  /** Rank 0: the socket of each rank (index 0 unused); rank > 0: index 0 is the socket to rank 0. */
  std::vector<int> peers_;
  std::vector<float> incoming_;
  std::string broken_;
};

}  // namespace swiftlet
