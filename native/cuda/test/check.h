// The checks of the native test programs under native/cuda/test: each failed check prints one
// line, and checksPassed() ends main with the exit status.
#pragma once
#include <cstdio>
#include <string>

namespace swiftlet_test {

inline int& numFailed() {
  static int count = 0;
  return count;
}

inline void check(bool ok, const std::string& what) {
  if (ok) return;
  numFailed()++;
  std::printf("FAIL: %s\n", what.c_str());
}

// 0 and "<name>: all checks passed" when every check passed, else 1 and the count.
inline int checksPassed(const char* name) {
  if (numFailed() > 0) {
    std::printf("%d check(s) failed\n", numFailed());
    return 1;
  }
  std::printf("%s: all checks passed\n", name);
  return 0;
}

}  // namespace swiftlet_test
