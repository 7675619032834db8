#include "bench/cluster_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/kafka/embedded_cluster.h"

namespace tributary::bench {
namespace {

std::string readLine(int fd) {
  std::string line;
  char c;
  while (true) {
    const ssize_t n = read(fd, &c, 1);
    if (n <= 0) throw std::runtime_error("the cluster process ended unexpectedly");
    if (c == '\n') return line;
    line.push_back(c);
  }
}

void writeAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) throw std::runtime_error("cannot write to the cluster process");
    done += static_cast<size_t>(n);
  }
}

}  // namespace

ClusterProcess::ClusterProcess(int brokers, const std::string& extraArg) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::string self = "/proc/self/exe";
  std::vector<std::string> args = {"tributary-bench-cluster", "--cluster-process", std::to_string(brokers)};
  if (!extraArg.empty()) args.push_back(extraArg);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  toChild_ = in[1];
  fromChild_ = out[0];
  bootstrap_ = readLine(fromChild_);
}

ClusterProcess::~ClusterProcess() {
  if (toChild_ >= 0) close(toChild_);  // EOF: the child destroys its cluster and exits
  if (fromChild_ >= 0) close(fromChild_);
  if (pid_ > 0) {
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string ClusterProcess::command(const std::string& line) {
  writeAll(toChild_, line + "\n");
  return readLine(fromChild_);
}

void ClusterProcess::createTopic(const std::string& topic, int partitions, int replicationFactor) {
  const std::string answer =
      command("topic " + topic + " " + std::to_string(partitions) + " " + std::to_string(replicationFactor));
  if (answer != "ok") throw std::runtime_error("cluster process: " + answer);
}

double ClusterProcess::cpuSeconds() const { return processCpuSeconds(pid_); }

double processCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int serveClusterProcess(int brokers) {
  signal(SIGINT, SIG_IGN);  // ^C on the bench: the parent ends us by closing stdin
  tributary::EmbeddedKafka kafka(brokers);
  std::cout << kafka.bootstrapServers() << "\n" << std::flush;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string verb, topic;
    int partitions = 0, rf = 1;
    words >> verb >> topic >> partitions >> rf;
    if (verb == "topic" && !topic.empty() && partitions > 0) {
      try {
        kafka.createTopic(topic, partitions, rf);
        std::cout << "ok\n" << std::flush;
      } catch (const std::exception& e) {
        std::cout << "error " << e.what() << "\n" << std::flush;
      }
    } else {
      std::cout << "error unknown command: " << line << "\n" << std::flush;
    }
  }
  return 0;
}

}  // namespace tributary::bench
