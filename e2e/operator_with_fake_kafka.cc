// tributary-operator-fake-kafka: the real controller-mode command line
// (operator/controllers/controller_mode.h) over the ClusterAdmin test double
// instead of librdkafka, for end-to-end scenarios that need a Kafka admin API
// the embedded mock cluster lacks (CreateTopics, DescribeGroups). Built for
// tests only, never installed.
// - After every admin call the double's topics are written as JSON to the file
//   named by TRIBUTARY_FAKE_KAFKA_STATE (atomically: write, then rename), so the
//   test sees what "Kafka" holds: {"<topic>": {"partitions", "replicationFactor", "config"}},
//   and the committed offsets of the groups it knows to STATE.groups.json:
//   {"<group>": {"<topic>-<partition>": offset}}.
// - TRIBUTARY_FAKE_KAFKA_CONTROL names a file the test drops commands into
//   (write, then rename): a JSON array of {"op": "putTopic" (topic, partitions),
//   "produce" (topic, partition, count), "commit" (group, topic, partition,
//   offset), "join" (group, memberId, clientId), "leave" (group, memberId)} —
//   what producers and consumers would do to a real cluster. They are applied
//   before the next admin call and the file is removed, which tells the test.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>

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
  std::vector<op::kafka::GroupDescribeResult> describeGroups(const std::vector<std::string>& g) override {
    control();
    return after(fake_.describeGroups(g));
  }
  std::vector<op::kafka::GroupOffsets> listGroupOffsets(const std::vector<std::string>& g,
                                                        const op::kafka::GroupPartitions& only) override {
    control();
    return after(fake_.listGroupOffsets(g, only));
  }
  std::vector<op::kafka::GroupOffsets> alterGroupOffsets(const std::vector<op::kafka::GroupOffsets>& c) override {
    control();
    {
      std::lock_guard lock(mu_);
      for (const auto& g : c) groups_.insert(g.group);
    }
    return after(fake_.alterGroupOffsets(c));
  }
  std::vector<op::kafka::GroupResult> deleteGroups(const std::vector<std::string>& g) override {
    control();
    return after(fake_.deleteGroups(g));
  }
  std::vector<op::kafka::PartitionOffset> listOffsets(const std::vector<op::kafka::OffsetQuery>& q) override {
    control();
    return after(fake_.listOffsets(q));
  }
  std::vector<op::kafka::RecordAt> recordTimestamps(const std::vector<op::kafka::RecordAt>& at) override {
    control();
    return after(fake_.recordTimestamps(at));
  }

 private:
  template <typename T>
  T after(T result) {
    dump();
    return result;
  }
  // Applies the test's commands, if it dropped any (see the file's header).
  void control() {
    const char* path = std::getenv("TRIBUTARY_FAKE_KAFKA_CONTROL");
    if (!path || !*path) return;
    std::ifstream in(path);
    if (!in) return;
    const nlohmann::json commands = nlohmann::json::parse(in, nullptr, false);
    in.close();
    if (commands.is_array()) {
      std::lock_guard lock(mu_);
      for (const auto& c : commands) {
        const std::string op = c.value("op", "");
        if (op == "putTopic") {
          fake_.putTopic(c.at("topic"), {c.at("partitions").get<int>(), 1, {}});
        } else if (op == "produce") {
          fake_.produce(c.at("topic"), c.at("partition"), c.at("count"), 1'700'000'000'000);
        } else if (op == "commit") {
          fake_.commit(c.at("group"), c.at("topic"), c.at("partition"), c.at("offset"));
          groups_.insert(c.at("group").get<std::string>());
        } else if (op == "join") {
          fake_.join(c.at("group"), {c.at("memberId"), c.value("clientId", ""), "/127.0.0.1", {}});
        } else if (op == "leave") {
          fake_.leave(c.at("group"), c.at("memberId"));
        }
      }
    }
    std::remove(path);
  }

  void dump() {
    if (path_.empty()) return;
    std::lock_guard lock(mu_);
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& g : groups_) {
      groups[g] = nlohmann::json::object();
      for (const auto& [tp, offset] : fake_.committed(g)) groups[g][tp.topic + "-" + std::to_string(tp.partition)] = offset;
    }
    std::ofstream(path_ + ".groups.json.tmp") << groups.dump();
    std::rename((path_ + ".groups.json.tmp").c_str(), (path_ + ".groups.json").c_str());
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
  std::set<std::string> groups_;  // groups whose offsets the state file shows
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
