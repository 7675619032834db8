#include "sidecar/pipeline/pipeline_metrics.h"

namespace tributary::sidecar::pipeline {

PipelineMetrics::PipelineMetrics(prometheus::Registry& registry, const std::string& pipeline, size_t steps,
                                 const std::vector<std::string>& sinks)
    : recordsIn(prometheus::BuildCounter()
                    .Name("tributary_pipeline_records_in_total")
                    .Help("Source records the pipeline's steps processed (a retried record counts once per attempt)")
                    .Register(registry)
                    .Add({{"pipeline", pipeline}})),
      recordsFiltered(prometheus::BuildCounter()
                          .Name("tributary_pipeline_records_filtered_total")
                          .Help("Source records the steps turned into no output (filtered out)")
                          .Register(registry)
                          .Add({{"pipeline", pipeline}})),
      transactionsCommitted(prometheus::BuildCounter()
                                .Name("tributary_pipeline_transactions_total")
                                .Help("Kafka transactions of an exactlyOnce pipeline, by outcome")
                                .Register(registry)
                                .Add({{"pipeline", pipeline}, {"outcome", "commit"}})),
      transactionsAborted(prometheus::BuildCounter()
                              .Name("tributary_pipeline_transactions_total")
                              .Help("Kafka transactions of an exactlyOnce pipeline, by outcome")
                              .Register(registry)
                              .Add({{"pipeline", pipeline}, {"outcome", "abort"}})) {
  auto& out = prometheus::BuildCounter()
                  .Name("tributary_pipeline_records_out_total")
                  .Help("Records the pipeline's sinks acknowledged, by sink")
                  .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("tributary_pipeline_sink_duration_seconds")
                       .Help("Per output: handed to the sink to acknowledged (broker ack or HTTP 2xx)")
                       .Register(registry);
  for (const auto& sink : sinks) {
    recordsOut[sink] = &out.Add({{"pipeline", pipeline}, {"sink", sink}});
    sinkDuration[sink] = &duration.Add({{"pipeline", pipeline}, {"sink", sink}},
                                       prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                                               0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                                               10});
  }
  auto& errors = prometheus::BuildCounter()
                     .Name("tributary_pipeline_step_errors_total")
                     .Help("Source records a step failed (an expression's runtime error), by step index")
                     .Register(registry);
  for (size_t i = 0; i <= steps; ++i)  // steps: "no route matched and no default sink"
    stepErrors[i] = &errors.Add({{"pipeline", pipeline}, {"step", std::to_string(i)}});
}

}  // namespace tributary::sidecar::pipeline
