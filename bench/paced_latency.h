#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tributary::bench {

// Latency at a fixed pace (issue #14 §3, Dapr's published anchor: the latency
// its sidecar adds to pub/sub at 1000 requests/s). Open loop: record i is due at
// start + i / rate whatever happened to the ones before, and its latency runs from
// that due time to its acknowledgement, so a stall shows in every record that
// waited behind it (no coordinated omission).
struct PacedResult {
  std::string scenario;
  std::vector<double> latencyMs;  // one per acknowledged record after the warm-up
  uint64_t errors = 0;
  std::string firstError;
  double lateSendMs = 0;  // the largest delay between a due time and the send (the pacer's own lag)
  double percentile(double p) const;
};

struct PacedOptions {
  int rate = 1000;             // records (requests) per second
  double seconds = 10;         // measured
  double warmupSeconds = 1;    // paced as well, not counted
  size_t payload = 1024;       // value bytes, a JSON string, quotes included
  int connections = 32;        // sidecar: keep-alive connections that take turns
};

// A raw librdkafka producer with `properties` (the sidecar's producer settings).
PacedResult pacedRaw(const std::string& bootstrap, const std::string& topic,
                     const std::map<std::string, std::string>& properties, const PacedOptions& o);

// One single-record synchronous POST per due time to the sidecar's API port.
PacedResult pacedSidecar(int apiPort, const std::string& topic, const PacedOptions& o);

}  // namespace tributary::bench
