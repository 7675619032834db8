#pragma once
#include <memory>

#include "common/tracing/tracer.h"
#include "sidecar/config/sidecar_config.h"
#include "sidecar/consume/deliverer.h"

namespace tributary::sidecar {

// Puts a span between a record's trace context and the app, around any
// Deliverer (the HTTP pusher or the LeaseBroker), when spans are exported.
//
// Each attempt gets a span, a child of the record's `traceparent` header (or
// the root of a new trace): push: "process <topic>" (CONSUMER) with a
// "POST" (CLIENT) child for the HTTP call, whose context the app receives;
// pull: "receive <topic>" (CONSUMER), from the lease to its ack, nack or
// expiry, whose context the poll returns. The app's answer (its status, or
// the ack/nack) ends the spans and sets their status. The record the inner
// deliverer gets is a copy whose `traceparent` header names that span; the
// subscription keeps the original (dead letters keep the producer's context).
// Unsampled records are passed on as they are.
//
// Threads: as Deliverer. The `done` wrappers hold only shared state, so a
// late callback from the inner deliverer finds everything it needs even
// after this object is gone. `inner` and `tracer` must outlive the attempts.
std::unique_ptr<Deliverer> makeTracingDeliverer(Deliverer& inner, tracing::Tracer& tracer,
                                                const SubscriptionConfig& subscription);

}  // namespace tributary::sidecar
