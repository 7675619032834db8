#pragma once
#include <cstdint>
#include <map>
#include <string>

typedef struct rd_kafka_s rd_kafka_t;

namespace tributary::test {

// A consumer group's view from outside: committed offsets (an OffsetFetch with
// the group's id; this handle never joins the group) and each partition's end.
class GroupProbe {
 public:
  GroupProbe(const std::string& bootstrap, const std::string& group, std::string topic, int partitions);
  ~GroupProbe();
  GroupProbe(const GroupProbe&) = delete;
  GroupProbe& operator=(const GroupProbe&) = delete;

  // partition → committed offset (the next record to read); -1 when none.
  std::map<int, int64_t> committed();
  // partition → high watermark.
  std::map<int, int64_t> ends();

 private:
  rd_kafka_t* rk_ = nullptr;
  const std::string topic_;
  const int partitions_;
};

}  // namespace tributary::test
