#include "tests/apiserver/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace tributary::apiserver::test {

Command::Command(const std::string& program, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
  int outPipe[2], errPipe[2];
  if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, outPipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, errPipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  std::vector<std::string> envStrings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!env.count(kv.substr(0, kv.find('=')))) envStrings.push_back(kv);
  }
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : envStrings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argStrings{program};
  argStrings.insert(argStrings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argStrings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(outPipe[1]);
  close(errPipe[1]);
  if (rc != 0) {
    close(outPipe[0]);
    close(errPipe[0]);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  }
  outFd_ = outPipe[0];
  errFd_ = errPipe[0];
}

Command::~Command() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (outFd_ >= 0) close(outFd_);
  if (errFd_ >= 0) close(errFd_);
}

bool Command::pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  nfds_t n = 0;
  if (outFd_ >= 0) fds[n++] = {outFd_, POLLIN, 0};
  if (errFd_ >= 0) fds[n++] = {errFd_, POLLIN, 0};
  if (n == 0) return false;
  if (poll(fds, n, static_cast<int>(timeout.count())) <= 0) return true;
  for (nfds_t i = 0; i < n; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[8192];
    ssize_t got = read(fds[i].fd, buf, sizeof buf);
    const bool isOut = fds[i].fd == outFd_;
    if (got > 0) {
      (isOut ? out_ : err_).append(buf, static_cast<size_t>(got));
    } else {
      close(fds[i].fd);
      (isOut ? outFd_ : errFd_) = -1;
    }
  }
  return true;
}

bool Command::waitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t at = out_.find(needle, consumed_);
    if (at != std::string::npos) {
      consumed_ = at + needle.size();
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!pump(left)) return false;  // both streams closed: it will never come
  }
}

int Command::wait(std::chrono::milliseconds timeout) {
  if (exited_) return exitCode_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // Drain the pipes so the child never blocks writing.
    pump(std::chrono::milliseconds(20));
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      // Read what the child left in the pipes, up to their end (bounded, in
      // case a grandchild still holds them open).
      const auto drainUntil = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while ((outFd_ >= 0 || errFd_ >= 0) && std::chrono::steady_clock::now() < drainUntil)
        pump(std::chrono::milliseconds(100));
      exited_ = true;
      exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exitCode_;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
  }
}

void Command::signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

CommandResult run(const std::string& program, const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env, std::chrono::milliseconds timeout) {
  Command c(program, args, env);
  CommandResult r;
  r.exitCode = c.wait(timeout);
  r.out = c.out();
  r.err = c.err();
  return r;
}

std::optional<std::string> findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

void writeKubeconfig(const std::string& path, const std::string& serverUrl) {
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: " << serverUrl
                      << "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
                         "    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user: {}\n";
}

}  // namespace tributary::apiserver::test
