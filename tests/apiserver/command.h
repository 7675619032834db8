#pragma once
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tributary::apiserver::test {

// A child process (kubectl, the server binary) with its stdout and stderr
// captured separately. Killed on destruction if still running.
class Command {
 public:
  // `env` entries override (or add to) this process's environment.
  Command(const std::string& program, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env = {});
  ~Command();
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  // Reads until stdout has `needle` after what earlier calls consumed, or the
  // timeout; true when found.
  bool waitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits for exit (reading both streams): the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void signal(int sig);
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Reads whatever is available within `timeout`; false once both pipes closed.
  bool pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int outFd_ = -1, errFd_ = -1;
  std::string out_, err_;
  size_t consumed_ = 0;
  bool exited_ = false;
  int exitCode_ = -1;
};

struct CommandResult {
  int exitCode = -1;
  std::string out, err;
};

// Runs to completion (bounded by `timeout`).
CommandResult run(const std::string& program, const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Writes a kubeconfig for kubectl (or the operator) to reach the test API
// server at `serverUrl` (plain HTTP, no credentials, namespace default).
void writeKubeconfig(const std::string& path, const std::string& serverUrl);

// The full path of `name` on $PATH, if there is one.
std::optional<std::string> findOnPath(const std::string& name);

}  // namespace tributary::apiserver::test
