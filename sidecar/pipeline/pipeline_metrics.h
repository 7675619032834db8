#pragma once
#include <map>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tributary::sidecar::pipeline {

// A pipeline's own metrics, next to the subscription engine's (the runner's
// tributary_deliveries_total, tributary_dead_letters_total, tributary_consumer_lag
// … labelled subscription=<pipeline name>). Children are looked up once, here:
// Family::Add() hashes a label map per call. Thread safe (prometheus-cpp
// counters); the maps are filled at construction and only read after.
struct PipelineMetrics {
  PipelineMetrics(prometheus::Registry& registry, const std::string& pipeline, size_t steps,
                  const std::vector<std::string>& sinks);

  prometheus::Counter& recordsIn;        // tributary_pipeline_records_in_total: source records processed
  prometheus::Counter& recordsFiltered;  // tributary_pipeline_records_filtered_total: source records with no output
  std::map<std::string, prometheus::Counter*> recordsOut;      // {sink}: outputs acknowledged by the sink
  std::map<std::string, prometheus::Histogram*> sinkDuration;  // {sink}: output handed over → acknowledged
  std::map<size_t, prometheus::Counter*> stepErrors;           // {step}: records a step failed (dead-lettered)
  prometheus::Counter& transactionsCommitted;                  // tributary_pipeline_transactions_total{outcome}
  prometheus::Counter& transactionsAborted;
};

}  // namespace tributary::sidecar::pipeline
