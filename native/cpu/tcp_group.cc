#include "tcp_group.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace swiftlet {

namespace {
using Clock = std::chrono::steady_clock;

int millisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

void setNoDelay(int fd) {
  // NOTE: each all-reduce is one message each way; Nagle would hold the tail of it back.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/** A dual-stack listener where IPv6 exists (so IPv4 and IPv6 masters both work), else IPv4. */
int openListener(int port) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd >= 0) {
    const int zero = 0, one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(static_cast<uint16_t>(port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("tensor-parallel group: socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string reason = std::strerror(errno);
    close(fd);
    throw std::runtime_error("tensor-parallel group: cannot listen on port " + std::to_string(port) + ": " + reason);
  }
  return fd;
}

/** One connection attempt to every address of host:port; -1 when none answered. */
int tryConnect(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int connected = -1;
  for (addrinfo* a = found; a != nullptr && connected < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) connected = fd;
    else close(fd);
  }
  freeaddrinfo(found);
  return connected;
}
}  // namespace

TcpGroup::TcpGroup(int rank, int size) : rank_(rank), size_(size), peers_(rank == 0 ? size : 1, -1) {
  if (size < 2 || rank < 0 || rank >= size) throw std::invalid_argument("tensor-parallel group: rank " + std::to_string(rank) + " of " + std::to_string(size));
}

TcpGroup::~TcpGroup() {
  for (const int fd : peers_)
    if (fd >= 0) close(fd);
  if (listenFd_ >= 0) close(listenFd_);
}

int TcpGroup::listen(int port) {
  if (rank_ != 0) throw std::logic_error("tensor-parallel group: only rank 0 listens");
  listenFd_ = openListener(port);
  if (::listen(listenFd_, size_) != 0) throw std::runtime_error(std::string("tensor-parallel group: listen: ") + std::strerror(errno));
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&bound), &length);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void TcpGroup::accept(int timeoutMs) {
  if (listenFd_ < 0) throw std::logic_error("tensor-parallel group: accept before listen");
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  for (int joined = 1; joined < size_;) {
    pollfd waiting{listenFd_, POLLIN, 0};
    if (poll(&waiting, 1, millisLeft(deadline)) <= 0) {
      throw std::runtime_error("tensor-parallel group: " + std::to_string(size_ - joined) + " rank(s) did not connect within " + std::to_string(timeoutMs) + " ms");
    }
    const int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) continue;
    int32_t peer = -1;
    pollfd hello{fd, POLLIN, 0};
    const bool said = poll(&hello, 1, millisLeft(deadline)) > 0 && recv(fd, &peer, sizeof(peer), MSG_WAITALL) == sizeof(peer);
    if (!said || peer < 1 || peer >= size_ || peers_[peer] >= 0) {
      close(fd);
      throw std::runtime_error("tensor-parallel group: a peer gave no valid rank (got " + std::to_string(peer) + ")");
    }
    setNoDelay(fd);
    peers_[peer] = fd;
    joined++;
  }
  close(listenFd_);
  listenFd_ = -1;
}

void TcpGroup::connect(const std::string& host, int port, int timeoutMs) {
  if (rank_ == 0) throw std::logic_error("tensor-parallel group: rank 0 does not connect");
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  int fd = tryConnect(host, port);
  while (fd < 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fd = tryConnect(host, port);
  }
  if (fd < 0) throw std::runtime_error("tensor-parallel group: cannot reach rank 0 at " + host + ":" + std::to_string(port) + " within " + std::to_string(timeoutMs) + " ms");
  setNoDelay(fd);
  peers_[0] = fd;
  const int32_t me = rank_;
  sendAll(0, &me, sizeof(me));
}

void TcpGroup::fail(const std::string& message) {
  broken_ = "tensor-parallel group: " + message;
  throw std::runtime_error(broken_);
}

void TcpGroup::sendAll(int rank, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    // NOTE: MSG_NOSIGNAL: a peer that died must fail this step, not kill the process with SIGPIPE.
    const ssize_t sent = send(peers_[rank], p, bytes, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) fail("rank " + std::to_string(rank) + " is gone (" + std::strerror(errno) + ")");
    p += sent;
    bytes -= static_cast<size_t>(sent);
  }
}

void TcpGroup::recvAll(int rank, void* data, size_t bytes) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t got = recv(peers_[rank], p, bytes, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) fail("rank " + std::to_string(rank) + " disconnected");
    if (got < 0) fail("rank " + std::to_string(rank) + ": " + std::strerror(errno));
    p += got;
    bytes -= static_cast<size_t>(got);
  }
}

void TcpGroup::allReduceSum(float* data, int64_t count) {
  if (!broken_.empty()) throw std::runtime_error(broken_);
  const size_t bytes = static_cast<size_t>(count) * sizeof(float);
  if (rank_ != 0) {
    sendAll(0, data, bytes);
    recvAll(0, data, bytes);
    return;
  }
  incoming_.resize(static_cast<size_t>(count));
  for (int r = 1; r < size_; r++) {
    recvAll(r, incoming_.data(), bytes);
    for (int64_t i = 0; i < count; i++) data[i] += incoming_[i];
  }
  for (int r = 1; r < size_; r++) sendAll(r, data, bytes);
}

}  // namespace swiftlet
