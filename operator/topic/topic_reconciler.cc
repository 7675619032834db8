#include "operator/topic/topic_reconciler.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace tributary::op::topic {

using kafka::AdminError;
using kafka::AdminErrorCode;

std::string_view toString(TopicAction action) {
  switch (action) {
    case TopicAction::Create: return "create";
    case TopicAction::AddPartitions: return "addPartitions";
    case TopicAction::AlterConfig: return "alterConfig";
    case TopicAction::AddPartitionsAndAlterConfig: return "addPartitions+alterConfig";
    case TopicAction::Delete: return "delete";
    case TopicAction::None: return "none";
    case TopicAction::Rejected: return "rejected";
  }
  return "none";
}

TopicOutcome invalidSpecOutcome(const ResourceIdentity& resource, const std::vector<std::string>& errors) {
  TopicOutcome o;
  o.resource = resource;
  o.action = TopicAction::Rejected;
  o.reason = reason::kInvalidSpec;
  o.details = errors;
  std::string message;
  for (const auto& e : errors) message += (message.empty() ? "" : "; ") + e;
  o.message = message;
  return o;
}

namespace {

std::string resourceName(const ResourceIdentity& r) { return r.kind + " " + r.namespace_ + "/" + r.name; }

// Turns a per-item admin error into the outcome's reason, message and retry advice.
void fail(TopicOutcome& o, const AdminError& e, std::string_view doing) {
  o.converged = false;
  o.message = std::string(doing) + ": " + e.message;
  switch (e.code) {
    case AdminErrorCode::InvalidConfig: o.reason = reason::kInvalidConfig; break;
    case AdminErrorCode::PolicyViolation: o.reason = reason::kPolicyViolation; break;
    case AdminErrorCode::InvalidReplicationFactor: o.reason = reason::kInvalidReplicationFactor; break;
    case AdminErrorCode::InvalidPartitions: o.reason = reason::kInvalidPartitions; break;
    case AdminErrorCode::Unauthorized: o.reason = reason::kUnauthorized; break;
    case AdminErrorCode::Unavailable:
      o.reason = reason::kKafkaUnavailable;
      o.message = std::string(doing) + ": Kafka did not answer (" + e.message + "); will retry";
      o.retryable = true;
      return;  // the planned action stands; it just did not happen yet
    case AdminErrorCode::TopicNotFound:
    case AdminErrorCode::TopicAlreadyExists:
    case AdminErrorCode::GroupNotFound:
    case AdminErrorCode::GroupNotEmpty:
    case AdminErrorCode::Unsupported:
    case AdminErrorCode::Other:
      // A race with another client, or something unexpected: the next attempt re-plans.
      o.reason = reason::kKafkaError;
      o.retryable = true;
      return;
  }
  o.action = TopicAction::Rejected;  // a refusal: retrying the same spec gets the same answer
}

struct Plan {
  size_t index = 0;  // into the batch
  bool create = false;
  bool addPartitions = false;
  bool alterConfig = false;
  kafka::NewTopic newTopic;
  kafka::PartitionIncrease increase;
  kafka::TopicConfigs configs;
};

std::string describeBefore(const kafka::TopicDescription& d, const std::string& key) {
  if (auto it = d.dynamicConfigs.find(key); it != d.dynamicConfigs.end()) return it->second;
  if (auto it = d.effectiveConfigs.find(key); it != d.effectiveConfigs.end()) return it->second + " (default)";
  return "(default)";
}

}  // namespace

TopicReconciler::TopicReconciler(kafka::ClusterAdmin& admin, TopicReconcilerOptions options)
    : admin_(admin), options_(options) {}

std::vector<TopicOutcome> TopicReconciler::reconcile(const std::vector<KafkaTopic>& desired) {
  std::vector<TopicOutcome> outcomes(desired.size());
  for (size_t i = 0; i < desired.size(); ++i) {
    outcomes[i].resource = desired[i].resource;
    outcomes[i].topic = desired[i].spec.topicName;
    outcomes[i].cluster = desired[i].spec.cluster;
  }

  // Who keeps a topic name claimed more than once: the oldest resource.
  // Empty creationTimestamps (file mode) tie, and input order decides.
  std::map<std::pair<std::string, std::string>, size_t> owner;
  auto older = [&](size_t a, size_t b) {
    const auto& ra = desired[a].resource;
    const auto& rb = desired[b].resource;
    return std::tie(ra.creationTimestamp, ra.uid, a) < std::tie(rb.creationTimestamp, rb.uid, b);
  };
  for (size_t i = 0; i < desired.size(); ++i) {
    auto key = std::make_pair(desired[i].spec.cluster, desired[i].spec.topicName);
    auto [it, inserted] = owner.emplace(key, i);
    if (!inserted && older(i, it->second)) it->second = i;
  }

  std::vector<const KafkaTopic*> active;
  std::vector<TopicOutcome*> activeOutcomes;
  for (size_t i = 0; i < desired.size(); ++i) {
    TopicOutcome& o = outcomes[i];
    const size_t ownerIndex = owner[{desired[i].spec.cluster, desired[i].spec.topicName}];
    if (ownerIndex != i) {
      o.action = TopicAction::Rejected;
      o.reason = reason::kNameConflict;
      o.message = "topic \"" + o.topic + "\" in cluster \"" + o.cluster + "\" is already claimed by " +
                  resourceName(desired[ownerIndex].resource) + "; this resource changes nothing and deleting it never deletes the topic";
      continue;
    }
    if (desired[i].spec.paused) {
      o.action = TopicAction::None;
      o.reason = reason::kPaused;
      o.message = std::string("annotation ") + kPausedAnnotation + " is \"true\": not reconciling";
      o.converged = true;
      continue;
    }
    active.push_back(&desired[i]);
    activeOutcomes.push_back(&o);
  }

  const size_t batchSize = std::max<size_t>(options_.batchSize, 1);
  for (size_t start = 0; start < active.size(); start += batchSize) {
    const size_t end = std::min(active.size(), start + batchSize);
    std::vector<const KafkaTopic*> batch(active.begin() + static_cast<std::ptrdiff_t>(start),
                                         active.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<TopicOutcome*> batchOutcomes(activeOutcomes.begin() + static_cast<std::ptrdiff_t>(start),
                                             activeOutcomes.begin() + static_cast<std::ptrdiff_t>(end));
    reconcileBatch(batch, batchOutcomes);
  }
  return outcomes;
}

void TopicReconciler::reconcileBatch(const std::vector<const KafkaTopic*>& batch, std::vector<TopicOutcome*>& outs) {
  std::vector<std::string> names;
  for (const auto* t : batch) names.push_back(t->spec.topicName);
  const auto described = admin_.describeTopics(names);

  std::vector<Plan> plans;
  for (size_t i = 0; i < batch.size(); ++i) {
    const KafkaTopicSpec& spec = batch[i]->spec;
    TopicOutcome& o = *outs[i];
    const kafka::DescribeResult* d = i < described.size() && described[i].topic == spec.topicName ? &described[i] : nullptr;
    if (!d) {
      fail(o, AdminError{AdminErrorCode::Other, "no describe result for the topic"}, "describing the topic");
      continue;
    }
    if (d->error && d->error->code != AdminErrorCode::TopicNotFound) {
      fail(o, *d->error, "describing the topic");
      continue;
    }
    Plan plan;
    plan.index = i;
    if (d->error) {  // absent: create it, configs included, in one step
      plan.create = true;
      plan.newTopic = {spec.topicName, spec.partitions, spec.replicationFactor, spec.config};
      o.action = TopicAction::Create;
      o.details.push_back("partitions " + std::to_string(spec.partitions));
      o.details.push_back(spec.replicationFactor == -1 ? std::string("replicationFactor (broker default)")
                                                       : "replicationFactor " + std::to_string(spec.replicationFactor));
      for (const auto& [k, v] : spec.config) o.details.push_back(k + ": " + v);
      o.partitions = spec.partitions;
      o.replicationFactor = spec.replicationFactor;
      plans.push_back(std::move(plan));
      continue;
    }

    // Exists: adopt it if it fits, change what may be changed, refuse the rest.
    const kafka::TopicDescription& current = *d->description;
    o.partitions = current.partitions;
    o.replicationFactor = current.replicationFactor;
    std::vector<std::pair<std::string, std::string>> refusals;  // reason, message
    if (spec.replicationFactor != -1 && spec.replicationFactor != current.replicationFactor) {
      o.details.push_back("replicationFactor " + std::to_string(current.replicationFactor) + " → " +
                          std::to_string(spec.replicationFactor));
      refusals.emplace_back(reason::kReplicationFactorChange,
                            "the topic has replication factor " + std::to_string(current.replicationFactor) +
                                " and the spec asks for " + std::to_string(spec.replicationFactor) +
                                ": changing it needs a partition reassignment, which the operator does not do");
    }
    if (spec.partitions < current.partitions) {
      o.details.push_back("partitions " + std::to_string(current.partitions) + " → " + std::to_string(spec.partitions));
      refusals.emplace_back(reason::kPartitionDecrease,
                            "the topic has " + std::to_string(current.partitions) + " partitions and the spec asks for " +
                                std::to_string(spec.partitions) + ": Kafka cannot remove partitions");
    }
    if (!refusals.empty()) {
      o.action = TopicAction::Rejected;
      o.reason = refusals.front().first;
      for (const auto& [r, m] : refusals) o.message += (o.message.empty() ? "" : "; ") + m;
      continue;  // nothing is changed on a topic with a refused spec
    }
    if (spec.partitions > current.partitions) {
      plan.addPartitions = true;
      plan.increase = {spec.topicName, spec.partitions};
      o.details.push_back("partitions " + std::to_string(current.partitions) + " → " + std::to_string(spec.partitions));
    }
    for (const auto& [k, v] : spec.config) {
      auto it = current.dynamicConfigs.find(k);
      if (it != current.dynamicConfigs.end() && it->second == v) continue;
      plan.alterConfig = true;
      o.details.push_back(k + ": " + describeBefore(current, k) + " → " + v);
    }
    for (const auto& [k, v] : current.dynamicConfigs) {
      if (spec.config.count(k)) continue;
      plan.alterConfig = true;
      o.details.push_back(k + ": " + v + " → (default)");
    }
    if (plan.alterConfig) plan.configs = {spec.topicName, spec.config};
    o.action = plan.addPartitions && plan.alterConfig ? TopicAction::AddPartitionsAndAlterConfig
               : plan.addPartitions                    ? TopicAction::AddPartitions
               : plan.alterConfig                      ? TopicAction::AlterConfig
                                                       : TopicAction::None;
    if (o.action == TopicAction::None) {
      o.reason = reason::kUpToDate;
      o.message = "the topic matches the spec";
      o.converged = true;
      continue;
    }
    plans.push_back(std::move(plan));
  }

  // Execute: one request per kind of change for the whole batch. Configs go
  // before partitions: AlterConfigs is checked by the broker as a whole per
  // topic, so a refused config stops that topic's partition increase too and
  // the topic is left untouched. A dry run sends the same requests as validateOnly.
  const bool validateOnly = options_.dryRun;
  enum Step { kNone, kCreate, kAlter, kPartitions };
  std::vector<Step> failed(plans.size(), kNone);
  auto run = [&](Step step, auto&& selected, auto&& makeItem, auto&& call, std::string_view doing) {
    std::vector<size_t> which;
    using Item = std::decay_t<decltype(makeItem(plans[0]))>;
    std::vector<Item> items;
    for (size_t p = 0; p < plans.size(); ++p)
      if (!failed[p] && selected(plans[p])) {
        which.push_back(p);
        items.push_back(makeItem(plans[p]));
      }
    if (items.empty()) return;
    const auto results = call(items);
    for (size_t j = 0; j < which.size(); ++j) {
      const size_t p = which[j];
      const bool matches = j < results.size();
      if (matches && results[j].ok()) continue;
      failed[p] = step;
      fail(*outs[plans[p].index], matches ? *results[j].error : AdminError{AdminErrorCode::Other, "no result"}, doing);
    }
  };
  run(kCreate, [](const Plan& p) { return p.create; }, [](const Plan& p) { return p.newTopic; },
      [&](const std::vector<kafka::NewTopic>& items) { return admin_.createTopics(items, validateOnly); },
      "creating the topic");
  run(kAlter, [](const Plan& p) { return p.alterConfig; }, [](const Plan& p) { return p.configs; },
      [&](const std::vector<kafka::TopicConfigs>& items) { return admin_.alterConfigs(items, validateOnly); },
      "changing the topic's config");
  // A topic whose config step failed keeps its partitions: `failed` skips it here.
  run(kPartitions, [](const Plan& p) { return p.addPartitions; }, [](const Plan& p) { return p.increase; },
      [&](const std::vector<kafka::PartitionIncrease>& items) { return admin_.createPartitions(items, validateOnly); },
      "adding partitions");

  for (size_t p = 0; p < plans.size(); ++p) {
    TopicOutcome& o = *outs[plans[p].index];
    const Plan& plan = plans[p];
    if (failed[p] != kNone) {
      // The config step runs first: it was applied when only the partitions failed.
      o.applied = !validateOnly && plan.alterConfig && failed[p] == kPartitions;
      continue;
    }
    o.converged = true;
    o.applied = !validateOnly;
    if (plan.addPartitions) o.partitions = plan.increase.newTotal;
    if (plan.create) {
      o.reason = validateOnly ? reason::kUpToDate : reason::kCreated;
      o.message = validateOnly ? "would create the topic" : "created the topic";
    } else {
      o.reason = validateOnly ? reason::kUpToDate : reason::kUpdated;
      o.message = validateOnly ? "would update the topic" : "updated the topic";
    }
  }
}

std::vector<TopicOutcome> TopicReconciler::finalize(const std::vector<KafkaTopic>& deleting,
                                                    const std::vector<KafkaTopic>& stillPresent) {
  std::set<std::pair<std::string, std::string>> claimed;
  for (const auto& t : stillPresent) claimed.emplace(t.spec.cluster, t.spec.topicName);

  std::vector<TopicOutcome> outcomes(deleting.size());
  std::vector<std::string> toDelete;             // unique names, one request per batch
  std::map<std::string, std::vector<size_t>> waiting;  // topic → outcomes
  for (size_t i = 0; i < deleting.size(); ++i) {
    const KafkaTopic& t = deleting[i];
    TopicOutcome& o = outcomes[i];
    o.resource = t.resource;
    o.topic = t.spec.topicName;
    o.cluster = t.spec.cluster;
    o.action = TopicAction::None;
    o.converged = true;
    if (t.spec.deletionPolicy == DeletionPolicy::Retain) {
      o.reason = reason::kRetained;
      o.message = "deletionPolicy is Retain: the topic stays in Kafka";
    } else if (t.spec.paused) {
      o.reason = reason::kPaused;
      o.message = std::string("annotation ") + kPausedAnnotation + " is \"true\": the topic stays in Kafka";
    } else if (claimed.count({t.spec.cluster, t.spec.topicName})) {
      o.reason = reason::kStillClaimed;
      o.message = "another resource still claims topic \"" + o.topic + "\": the topic stays in Kafka";
    } else {
      o.action = TopicAction::Delete;
      o.details.push_back("delete topic " + o.topic);
      auto& w = waiting[o.topic];
      if (w.empty()) toDelete.push_back(o.topic);
      w.push_back(i);
    }
  }
  if (options_.dryRun) {
    for (auto& [topic, indexes] : waiting)
      for (size_t i : indexes) {
        outcomes[i].reason = reason::kUpToDate;
        outcomes[i].message = "would delete the topic";
      }
    return outcomes;
  }
  const size_t batchSize = std::max<size_t>(options_.batchSize, 1);
  for (size_t start = 0; start < toDelete.size(); start += batchSize) {
    std::vector<std::string> batch(toDelete.begin() + static_cast<std::ptrdiff_t>(start),
                                   toDelete.begin() + static_cast<std::ptrdiff_t>(std::min(toDelete.size(), start + batchSize)));
    const auto results = admin_.deleteTopics(batch);
    for (size_t j = 0; j < batch.size(); ++j) {
      const bool matches = j < results.size() && results[j].topic == batch[j];
      for (size_t i : waiting[batch[j]]) {
        TopicOutcome& o = outcomes[i];
        if (matches && results[j].ok()) {
          o.reason = reason::kDeleted;
          o.message = "deleted the topic";
          o.applied = true;
        } else if (matches && results[j].error->code == AdminErrorCode::TopicNotFound) {
          o.reason = reason::kDeleted;
          o.message = "the topic was already gone";
        } else {
          fail(o, matches ? *results[j].error : AdminError{AdminErrorCode::Other, "no result"}, "deleting the topic");
        }
      }
    }
  }
  return outcomes;
}

}  // namespace tributary::op::topic
