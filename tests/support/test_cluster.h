#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/kafka/embedded_cluster.h"

namespace tributary::test {

// The Kafka a test runs against: the embedded cluster (librdkafka's mock), or
// the real broker TRIBUTARY_TEST_BOOTSTRAP names (the maintainers' runs, for
// what the mock does not implement — transactions' offsets, abort markers,
// fencing).
class TestCluster {
 public:
  TestCluster();
  bool real() const { return mock_ == nullptr; }
  EmbeddedKafka& mock() { return *mock_; }  // !real() only: fault injection
  const std::string& bootstrap() const { return bootstrap_; }

  // Creates the topic (replication factor 3 on the mock, the broker's default on a real one).
  void createTopic(const std::string& topic, int partitions);
  // Plain (non-transactional) records; partition i % partitions, key k<i>, header trace=t<i>.
  void produce(const std::string& topic, const std::vector<std::string>& values, int partitions, int first = 0);

 private:
  std::unique_ptr<EmbeddedKafka> mock_;
  std::string bootstrap_;
};

// A name no earlier run used (a real broker keeps topics and groups between runs).
std::string uniqueName(const std::string& base);

}  // namespace tributary::test
