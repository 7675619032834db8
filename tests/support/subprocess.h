#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace tributary::test {

// A child process with its stderr captured through a pipe, for tests that need
// a real process boundary (signals, exit codes). Killed on destruction.
class Subprocess {
 public:
  Subprocess(const std::string& program, const std::vector<std::string>& args);
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // Reads stderr lines until one contains `needle` (returned) or the timeout.
  std::optional<std::string> waitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // Everything read from stderr so far.
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int stderrFd_ = -1;
  std::string output_;
  size_t scanned_ = 0;
  bool exited_ = false;
};

// Directory of the built binaries (TRIBUTARY_BIN_DIR, set by ctest).
std::string binDir();

}  // namespace tributary::test
