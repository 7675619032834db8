// tributary-operator-fake-kafka: the real controller-mode command line
// (operator/controllers/controller_mode.h) over the ClusterAdmin test double
// instead of librdkafka, for end-to-end scenarios that need a Kafka admin API
// (the embedded mock cluster has none). Built for tests only, never installed.
// After every admin call the double's topics are written as JSON to the file
// named by TRIBUTARY_FAKE_KAFKA_STATE (atomically: write, then rename), so the
// test sees what "Kafka" holds: {"<topic>": {"partitions", "replicationFactor", "config"}}.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "operator/controllers/controller_mode.h"
#include "tests/operator/topic/fake_cluster_admin.h"

namespace {

namespace op = tributary::op;

class StateFileAdmin final : public op::kafka::ClusterAdmin {
 public:
  explicit StateFileAdmin(std::string path) : path_(std::move(path)) { dump(); }

  std::vector<op::kafka::DescribeResult> describeTopics(const std::vector<std::string>& t) override {
    return after(fake_.describeTopics(t));
  }
  std::vector<op::kafka::ItemResult> createTopics(const std::vector<op::kafka::NewTopic>& t, bool v) override {
    return after(fake_.createTopics(t, v));
  }
  std::vector<op::kafka::ItemResult> createPartitions(const std::vector<op::kafka::PartitionIncrease>& p,
                                                      bool v) override {
    return after(fake_.createPartitions(p, v));
  }
  std::vector<op::kafka::ItemResult> alterConfigs(const std::vector<op::kafka::TopicConfigs>& c, bool v) override {
    return after(fake_.alterConfigs(c, v));
  }
  std::vector<op::kafka::ItemResult> deleteTopics(const std::vector<std::string>& t) override {
    return after(fake_.deleteTopics(t));
  }

 private:
  template <typename T>
  T after(T result) {
    dump();
    return result;
  }
  void dump() {
    if (path_.empty()) return;
    std::lock_guard lock(mu_);
    nlohmann::json state = nlohmann::json::object();
    for (const auto& name : fake_.topicNames())
      if (auto t = fake_.topic(name))
        state[name] = {{"partitions", t->partitions},
                       {"replicationFactor", t->replicationFactor},
                       {"config", t->dynamicConfigs}};
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << state.dump();
    std::rename(tmp.c_str(), path_.c_str());
  }

  op::test::FakeClusterAdmin fake_;
  const std::string path_;
  std::mutex mu_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const char* state = std::getenv("TRIBUTARY_FAKE_KAFKA_STATE");
  const std::string path = state ? state : "";
  return op::controllers::runControllerMode(
      std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr,
      [path](const std::string&, const op::kafka::ClusterConnection&, std::string&) {
        return std::make_unique<StateFileAdmin>(path);
      });
}
