#include "operator/kafka/rdkafka_cluster_admin.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <unordered_map>

#include "common/log/log.h"

namespace tributary::op::kafka {

namespace {

AdminErrorCode codeOf(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: return AdminErrorCode::TopicNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return AdminErrorCode::TopicAlreadyExists;
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS: return AdminErrorCode::InvalidPartitions;
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT: return AdminErrorCode::InvalidReplicationFactor;
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG: return AdminErrorCode::InvalidConfig;
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED: return AdminErrorCode::PolicyViolation;
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND: return AdminErrorCode::GroupNotFound;
    // Kafka refuses offset changes and deletion of a group with members: an
    // admin commit (no member id) gets UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS,
    // DeleteGroups NON_EMPTY_GROUP.
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS: return AdminErrorCode::GroupNotEmpty;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION: return AdminErrorCode::Unauthorized;
    // Transient: the brokers (or the controller) did not answer in time.
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION: return AdminErrorCode::Unavailable;
    // The brokers do not implement the request (e.g. DescribeGroups on
    // librdkafka's mock cluster): callers may degrade, not retry.
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION: return AdminErrorCode::Unsupported;
    default: return AdminErrorCode::Other;
  }
}

AdminError errorOf(rd_kafka_resp_err_t err, const char* message) {
  return AdminError{codeOf(err), message && *message ? message : rd_kafka_err2str(err)};
}

// librdkafka logs connection failures itself, again and again while brokers
// are down; route them to our JSON log at debug so that `apply` output stays
// readable (each outcome says what failed). Only critical ones stay warnings.
void logToJson(const rd_kafka_t*, int level, const char* facility, const char* message) {
  if (level <= 2) tributary::log::warn("librdkafka", {{"facility", facility}, {"message", message}});
  else tributary::log::debug("librdkafka", {{"facility", facility}, {"message", message}});
}

template <typename T>
std::vector<ItemResult> allFailed(const std::vector<T>& items, const AdminError& error, std::string T::*name) {
  std::vector<ItemResult> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back({item.*name, error});
  return out;
}

std::vector<ItemResult> allFailedNames(const std::vector<std::string>& names, const AdminError& error) {
  std::vector<ItemResult> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back({n, error});
  return out;
}

// Per-topic results of CreateTopics/CreatePartitions/DeleteTopics, put back in request order.
std::vector<ItemResult> topicResults(const rd_kafka_topic_result_t** results, size_t count,
                                     const std::vector<std::string>& order) {
  std::unordered_map<std::string, std::optional<AdminError>> byName;
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    std::optional<AdminError> e;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) e = errorOf(err, rd_kafka_topic_result_error_string(results[i]));
    byName[rd_kafka_topic_result_name(results[i])] = e;
  }
  std::vector<ItemResult> out;
  for (const auto& name : order) {
    auto it = byName.find(name);
    if (it == byName.end()) out.push_back({name, AdminError{AdminErrorCode::Other, "no result for the topic"}});
    else out.push_back({name, it->second});
  }
  return out;
}

GroupState stateOf(rd_kafka_consumer_group_state_t s) {
  switch (s) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE: return GroupState::PreparingRebalance;
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE: return GroupState::CompletingRebalance;
    case RD_KAFKA_CONSUMER_GROUP_STATE_STABLE: return GroupState::Stable;
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD: return GroupState::Dead;
    case RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY: return GroupState::Empty;
    default: return GroupState::Unknown;
  }
}

std::vector<PartitionOffset> offsetsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<PartitionOffset> out;
  if (!list) return out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    PartitionOffset o{p.topic, p.partition, p.offset, std::nullopt};
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) o.error = errorOf(p.err, nullptr);
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

// A result queue per call: calls from different threads (the topic and the
// group controllers share a client) never take each other's answers.
struct CallQueue {
  explicit CallQueue(rd_kafka_t* rk) : q(rd_kafka_queue_new(rk)) {}
  ~CallQueue() { rd_kafka_queue_destroy(q); }
  CallQueue(const CallQueue&) = delete;
  CallQueue& operator=(const CallQueue&) = delete;
  rd_kafka_queue_t* q;
};

struct RdKafkaClusterAdmin::Handle {
  rd_kafka_t* rk = nullptr;
  std::chrono::milliseconds timeout{30'000};
  ClusterConnection connection;  // for the short-lived consumers of recordTimestamps

  ~Handle() {
    if (rk) rd_kafka_destroy(rk);
  }

  rd_kafka_AdminOptions_t* options(rd_kafka_admin_op_t op, bool validateOnly) {
    rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(rk, op);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(o, static_cast<int>(timeout.count()), err, sizeof err);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS ||
        op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
      rd_kafka_AdminOptions_set_operation_timeout(o, static_cast<int>(timeout.count()), err, sizeof err);
    if (validateOnly) rd_kafka_AdminOptions_set_validate_only(o, 1, err, sizeof err);
    return o;
  }

  // Collects `expected` result events of `type` from `q` (requests sent
  // together, answered in any order). Returns fewer when the deadline passed.
  std::vector<rd_kafka_event_t*> awaitMany(rd_kafka_queue_t* q, rd_kafka_event_type_t type, size_t expected) {
    std::vector<rd_kafka_event_t*> events;
    const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(5);
    while (events.size() < expected) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(left.count()));
      if (!ev) break;
      if (rd_kafka_event_type(ev) != type) {
        rd_kafka_event_destroy(ev);
        continue;
      }
      events.push_back(ev);
    }
    return events;
  }

  // Waits for the result event of the request just sent. The request timeout
  // makes librdkafka answer; the extra margin only guards against a lost event.
  // Returns nullptr with `error` set when the request as a whole failed.
  rd_kafka_event_t* awaitOn(rd_kafka_queue_t* q, rd_kafka_event_type_t type, std::optional<AdminError>& error) {
    const auto waitMs = static_cast<int>(timeout.count()) + 5'000;
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, waitMs);
    if (!ev) {
      error = AdminError{AdminErrorCode::Unavailable, "no answer from the Kafka cluster"};
      return nullptr;
    }
    if (rd_kafka_event_type(ev) != type) {
      error = AdminError{AdminErrorCode::Other, "unexpected librdkafka event"};
      rd_kafka_event_destroy(ev);
      return nullptr;
    }
    if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = errorOf(err, rd_kafka_event_error_string(ev));
      rd_kafka_event_destroy(ev);
      return nullptr;
    }
    return ev;
  }
};

std::vector<std::string> validateAdminProperties(const std::map<std::string, std::string>& properties,
                                                 std::string_view keyPrefix) {
  std::vector<std::string> errors;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : properties) {
    const std::string where = std::string(keyPrefix) + "." + key;
    if (key == "bootstrap.servers" || key == "metadata.broker.list") {
      errors.push_back(where + ": may not be set: use bootstrapServers");
      continue;
    }
    char err[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      errors.push_back(where + ": " + err);
  }
  rd_kafka_conf_destroy(conf);
  return errors;
}

std::unique_ptr<RdKafkaClusterAdmin> RdKafkaClusterAdmin::create(const ClusterConnection& connection,
                                                                 std::string& error) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      error = k + ": " + err;
      return false;
    }
    return true;
  };
  bool ok = set("bootstrap.servers", connection.bootstrapServers);
  for (const auto& [k, v] : connection.properties) ok = ok && set(k, v);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set_log_cb(conf, logToJson);
  auto handle = std::make_unique<Handle>();
  handle->timeout = connection.requestTimeout;
  handle->connection = connection;
  // The admin API runs on any client type; a producer handle starts no consumer machinery.
  handle->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!handle->rk) {
    rd_kafka_conf_destroy(conf);
    error = err;
    return nullptr;
  }
  return std::unique_ptr<RdKafkaClusterAdmin>(new RdKafkaClusterAdmin(std::move(handle)));
}

RdKafkaClusterAdmin::RdKafkaClusterAdmin(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {}
RdKafkaClusterAdmin::~RdKafkaClusterAdmin() = default;

std::vector<DescribeResult> RdKafkaClusterAdmin::describeTopics(const std::vector<std::string>& topics) {
  CallQueue call(handle_->rk);
  std::vector<DescribeResult> out;
  if (topics.empty()) return out;
  auto failAll = [&](const AdminError& e) {
    out.clear();
    for (const auto& t : topics) out.push_back({t, std::nullopt, e});
    return out;
  };
  // All topics in one Metadata request: asking for named topics would need a
  // handle per topic (a round trip each) and may auto-create them on brokers
  // with auto.create.topics.enable.
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(handle_->rk, 1, nullptr, &md, static_cast<int>(handle_->timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return failAll(errorOf(err, nullptr));
  std::unordered_map<std::string, TopicDescription> found;
  std::unordered_map<std::string, AdminError> topicErrors;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      topicErrors[t.topic] = errorOf(t.err, nullptr);
      continue;
    }
    TopicDescription d;
    d.partitions = t.partition_cnt;
    for (int p = 0; p < t.partition_cnt; ++p) d.replicationFactor = std::max(d.replicationFactor, t.partitions[p].replica_cnt);
    found.emplace(t.topic, std::move(d));
  }
  rd_kafka_metadata_destroy(md);

  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto& t : topics)
    if (found.count(t)) resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str()));
  std::unordered_map<std::string, AdminError> configErrors;
  if (!resources.empty()) {
    rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, false);
    rd_kafka_DescribeConfigs(handle_->rk, resources.data(), resources.size(), opts, call.q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy_array(resources.data(), resources.size());
    std::optional<AdminError> callError;
    rd_kafka_event_t* ev = handle_->awaitOn(call.q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, callError);
    if (!ev) return failAll(*callError);
    const rd_kafka_DescribeConfigs_result_t* res = rd_kafka_event_DescribeConfigs_result(ev);
    size_t n = 0;
    const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(res, &n);
    for (size_t i = 0; i < n; ++i) {
      const std::string name = rd_kafka_ConfigResource_name(rs[i]);
      if (rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(rs[i]); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        configErrors[name] = errorOf(e, rd_kafka_ConfigResource_error_string(rs[i]));
        continue;
      }
      auto it = found.find(name);
      if (it == found.end()) continue;
      size_t ec = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &ec);
      for (size_t j = 0; j < ec; ++j) {
        const char* value = rd_kafka_ConfigEntry_value(entries[j]);  // NULL for sensitive values
        const std::string key = rd_kafka_ConfigEntry_name(entries[j]);
        const std::string v = value ? value : "";
        it->second.effectiveConfigs[key] = v;
        if (rd_kafka_ConfigEntry_source(entries[j]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
          it->second.dynamicConfigs[key] = v;
      }
    }
    rd_kafka_event_destroy(ev);
  }

  for (const auto& t : topics) {
    if (auto e = configErrors.find(t); e != configErrors.end()) out.push_back({t, std::nullopt, e->second});
    else if (auto f = found.find(t); f != found.end()) out.push_back({t, f->second, std::nullopt});
    else if (auto te = topicErrors.find(t); te != topicErrors.end()) out.push_back({t, std::nullopt, te->second});
    else out.push_back({t, std::nullopt, AdminError{AdminErrorCode::TopicNotFound, "topic " + t + " does not exist"}});
  }
  return out;
}

std::vector<ItemResult> RdKafkaClusterAdmin::createTopics(const std::vector<NewTopic>& topics, bool validateOnly) {
  CallQueue call(handle_->rk);
  if (topics.empty()) return {};
  std::vector<rd_kafka_NewTopic_t*> reqs;
  std::vector<std::string> order;
  char err[512];
  for (const auto& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replicationFactor, err, sizeof err);
    if (!nt) {
      rd_kafka_NewTopic_destroy_array(reqs.data(), reqs.size());
      return allFailed(topics, AdminError{AdminErrorCode::Other, t.name + ": " + err}, &NewTopic::name);
    }
    for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    reqs.push_back(nt);
    order.push_back(t.name);
  }
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_CREATETOPICS, validateOnly);
  rd_kafka_CreateTopics(handle_->rk, reqs.data(), reqs.size(), opts, call.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(reqs.data(), reqs.size());
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(call.q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, callError);
  if (!ev) return allFailed(topics, *callError, &NewTopic::name);
  size_t n = 0;
  const rd_kafka_topic_result_t** rs = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
  auto out = topicResults(rs, n, order);
  rd_kafka_event_destroy(ev);
  return out;
}

std::vector<ItemResult> RdKafkaClusterAdmin::createPartitions(const std::vector<PartitionIncrease>& increases,
                                                              bool validateOnly) {
  if (increases.empty()) return {};
  CallQueue call(handle_->rk);
  std::vector<rd_kafka_NewPartitions_t*> reqs;
  std::vector<std::string> order;
  char err[512];
  for (const auto& p : increases) {
    rd_kafka_NewPartitions_t* np =
        rd_kafka_NewPartitions_new(p.topic.c_str(), static_cast<size_t>(std::max(p.newTotal, 0)), err, sizeof err);
    if (!np) {
      rd_kafka_NewPartitions_destroy_array(reqs.data(), reqs.size());
      return allFailed(increases, AdminError{AdminErrorCode::Other, p.topic + ": " + err}, &PartitionIncrease::topic);
    }
    reqs.push_back(np);
    order.push_back(p.topic);
  }
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, validateOnly);
  rd_kafka_CreatePartitions(handle_->rk, reqs.data(), reqs.size(), opts, call.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewPartitions_destroy_array(reqs.data(), reqs.size());
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(call.q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, callError);
  if (!ev) return allFailed(increases, *callError, &PartitionIncrease::topic);
  size_t n = 0;
  const rd_kafka_topic_result_t** rs =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
  auto out = topicResults(rs, n, order);
  rd_kafka_event_destroy(ev);
  return out;
}

std::vector<ItemResult> RdKafkaClusterAdmin::alterConfigs(const std::vector<TopicConfigs>& configs,
                                                          bool validateOnly) {
  if (configs.empty()) return {};
  CallQueue call(handle_->rk);
  std::vector<rd_kafka_ConfigResource_t*> reqs;
  for (const auto& c : configs) {
    rd_kafka_ConfigResource_t* r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, c.topic.c_str());
    // The complete set: AlterConfigs (v0/v1) replaces the topic's dynamic configs.
    for (const auto& [k, v] : c.configs) rd_kafka_ConfigResource_set_config(r, k.c_str(), v.c_str());
    reqs.push_back(r);
  }
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_ALTERCONFIGS, validateOnly);
  rd_kafka_AlterConfigs(handle_->rk, reqs.data(), reqs.size(), opts, call.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_ConfigResource_destroy_array(reqs.data(), reqs.size());
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(call.q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, callError);
  if (!ev) return allFailed(configs, *callError, &TopicConfigs::topic);
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
  std::unordered_map<std::string, std::optional<AdminError>> byName;
  for (size_t i = 0; i < n; ++i) {
    std::optional<AdminError> e;
    if (rd_kafka_resp_err_t er = rd_kafka_ConfigResource_error(rs[i]); er != RD_KAFKA_RESP_ERR_NO_ERROR)
      e = errorOf(er, rd_kafka_ConfigResource_error_string(rs[i]));
    byName[rd_kafka_ConfigResource_name(rs[i])] = e;
  }
  rd_kafka_event_destroy(ev);
  std::vector<ItemResult> out;
  for (const auto& c : configs) {
    auto it = byName.find(c.topic);
    if (it == byName.end()) out.push_back({c.topic, AdminError{AdminErrorCode::Other, "no result for the topic"}});
    else out.push_back({c.topic, it->second});
  }
  return out;
}

std::vector<ItemResult> RdKafkaClusterAdmin::deleteTopics(const std::vector<std::string>& topics) {
  CallQueue call(handle_->rk);
  if (topics.empty()) return {};
  std::vector<rd_kafka_DeleteTopic_t*> reqs;
  for (const auto& t : topics) reqs.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_DELETETOPICS, false);
  rd_kafka_DeleteTopics(handle_->rk, reqs.data(), reqs.size(), opts, call.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_DeleteTopic_destroy_array(reqs.data(), reqs.size());
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(call.q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, callError);
  if (!ev) return allFailedNames(topics, *callError);
  size_t n = 0;
  const rd_kafka_topic_result_t** rs = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
  auto out = topicResults(rs, n, topics);
  rd_kafka_event_destroy(ev);
  return out;
}

// ---- consumer groups

std::vector<GroupDescribeResult> RdKafkaClusterAdmin::describeGroups(const std::vector<std::string>& groups) {
  std::vector<GroupDescribeResult> out;
  if (groups.empty()) return out;
  std::vector<const char*> names;
  for (const auto& g : groups) names.push_back(g.c_str());
  // One call for every group: librdkafka finds each coordinator and sends one
  // DescribeGroups per coordinator broker.
  // Group calls answer on a queue of their own, so that they may run while
  // another thread makes a topic call (the topic and the group controllers
  // share this client).
  rd_kafka_queue_t* q = rd_kafka_queue_new(handle_->rk);
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, false);
  rd_kafka_DescribeConsumerGroups(handle_->rk, names.data(), names.size(), opts, q);
  rd_kafka_AdminOptions_destroy(opts);
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, callError);
  rd_kafka_queue_destroy(q);
  if (!ev) {
    for (const auto& g : groups) out.push_back({g, std::nullopt, callError});
    return out;
  }
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** rs =
      rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
  std::unordered_map<std::string, GroupDescribeResult> byName;
  for (size_t i = 0; i < n; ++i) {
    const std::string name = rd_kafka_ConsumerGroupDescription_group_id(rs[i]);
    GroupDescribeResult r{name, std::nullopt, std::nullopt};
    if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(rs[i])) {
      r.error = errorOf(rd_kafka_error_code(e), rd_kafka_error_string(e));
    } else {
      GroupDescription d;
      d.state = stateOf(rd_kafka_ConsumerGroupDescription_state(rs[i]));
      const size_t members = rd_kafka_ConsumerGroupDescription_member_count(rs[i]);
      for (size_t m = 0; m < members; ++m) {
        const rd_kafka_MemberDescription_t* md = rd_kafka_ConsumerGroupDescription_member(rs[i], m);
        GroupMember member;
        const char* id = rd_kafka_MemberDescription_consumer_id(md);
        const char* client = rd_kafka_MemberDescription_client_id(md);
        const char* host = rd_kafka_MemberDescription_host(md);
        member.memberId = id ? id : "";
        member.clientId = client ? client : "";
        member.host = host ? host : "";
        if (const rd_kafka_MemberAssignment_t* a = rd_kafka_MemberDescription_assignment(md))
          for (const auto& p : offsetsOf(rd_kafka_MemberAssignment_partitions(a)))
            member.assignment.push_back({p.topic, p.partition});
        d.members.push_back(std::move(member));
      }
      r.description = std::move(d);
    }
    byName[name] = std::move(r);
  }
  rd_kafka_event_destroy(ev);
  for (const auto& g : groups) {
    auto it = byName.find(g);
    if (it == byName.end()) out.push_back({g, std::nullopt, AdminError{AdminErrorCode::Other, "no result for the group"}});
    else out.push_back(it->second);
  }
  return out;
}

namespace {

// Results of per-group requests sent together (librdkafka 2.0.2 takes one
// group per ListConsumerGroupOffsets / AlterConsumerGroupOffsets call), by group.
std::unordered_map<std::string, GroupOffsets> groupOffsetResults(const std::vector<rd_kafka_event_t*>& events,
                                                                 bool alter) {
  std::unordered_map<std::string, GroupOffsets> byName;
  for (rd_kafka_event_t* ev : events) {
    size_t n = 0;
    const rd_kafka_group_result_t** rs =
        alter ? rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n)
              : rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    if (n == 0 && rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // not attributable
    for (size_t i = 0; i < n; ++i) {
      GroupOffsets g;
      g.group = rd_kafka_group_result_name(rs[i]);
      if (const rd_kafka_error_t* e = rd_kafka_group_result_error(rs[i]))
        g.error = errorOf(rd_kafka_error_code(e), rd_kafka_error_string(e));
      else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
        g.error = errorOf(rd_kafka_event_error(ev), rd_kafka_event_error_string(ev));
      g.offsets = offsetsOf(rd_kafka_group_result_partitions(rs[i]));
      byName[g.group] = std::move(g);
    }
  }
  return byName;
}

}  // namespace

std::vector<GroupOffsets> RdKafkaClusterAdmin::listGroupOffsets(const std::vector<std::string>& groups,
                                                                const GroupPartitions& only) {
  std::vector<GroupOffsets> out;
  if (groups.empty()) return out;
  // All requests go out at once on a queue of their own, then the answers are
  // collected: one round trip of latency for the batch, not one per group.
  rd_kafka_queue_t* q = rd_kafka_queue_new(handle_->rk);
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, false);
  size_t sent = 0;
  for (const auto& g : groups) {
    auto named = only.find(g);
    if (named != only.end() && named->second.empty()) continue;  // nothing asked: no request
    // No partition list: every partition the group has an offset for.
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (named != only.end()) {
      list = rd_kafka_topic_partition_list_new(static_cast<int>(named->second.size()));
      for (const auto& tp : named->second) rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
    }
    rd_kafka_ListConsumerGroupOffsets_t* req = rd_kafka_ListConsumerGroupOffsets_new(g.c_str(), list);
    if (list) rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_ListConsumerGroupOffsets(handle_->rk, &req, 1, opts, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    ++sent;
  }
  rd_kafka_AdminOptions_destroy(opts);
  auto events = handle_->awaitMany(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, sent);
  auto byName = groupOffsetResults(events, false);
  for (rd_kafka_event_t* ev : events) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  for (const auto& g : groups) {
    if (auto named = only.find(g); named != only.end() && named->second.empty()) {
      out.push_back({g, {}, std::nullopt});
      continue;
    }
    auto it = byName.find(g);
    if (it == byName.end()) {
      out.push_back({g, {}, AdminError{AdminErrorCode::Unavailable, "no answer from the group coordinator"}});
      continue;
    }
    // Partitions without a committed offset are not reported (Kafka answers -1 for them).
    GroupOffsets r = std::move(it->second);
    r.offsets.erase(std::remove_if(r.offsets.begin(), r.offsets.end(),
                                   [](const PartitionOffset& p) { return !p.error && p.offset < 0; }),
                    r.offsets.end());
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<GroupOffsets> RdKafkaClusterAdmin::alterGroupOffsets(const std::vector<GroupOffsets>& changes) {
  std::vector<GroupOffsets> out;
  if (changes.empty()) return out;
  rd_kafka_queue_t* q = rd_kafka_queue_new(handle_->rk);
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, false);
  for (const auto& c : changes) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(c.offsets.size()));
    for (const auto& p : c.offsets) rd_kafka_topic_partition_list_add(list, p.topic.c_str(), p.partition)->offset = p.offset;
    rd_kafka_AlterConsumerGroupOffsets_t* req = rd_kafka_AlterConsumerGroupOffsets_new(c.group.c_str(), list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_AlterConsumerGroupOffsets(handle_->rk, &req, 1, opts, q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
  }
  rd_kafka_AdminOptions_destroy(opts);
  auto events = handle_->awaitMany(q, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, changes.size());
  auto byName = groupOffsetResults(events, true);
  for (rd_kafka_event_t* ev : events) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  for (const auto& c : changes) {
    auto it = byName.find(c.group);
    if (it == byName.end()) out.push_back({c.group, c.offsets, AdminError{AdminErrorCode::Unavailable, "no answer from the group coordinator"}});
    else out.push_back(std::move(it->second));
  }
  return out;
}

std::vector<GroupResult> RdKafkaClusterAdmin::deleteGroups(const std::vector<std::string>& groups) {
  std::vector<GroupResult> out;
  if (groups.empty()) return out;
  std::vector<rd_kafka_DeleteGroup_t*> reqs;
  for (const auto& g : groups) reqs.push_back(rd_kafka_DeleteGroup_new(g.c_str()));
  rd_kafka_queue_t* q = rd_kafka_queue_new(handle_->rk);
  rd_kafka_AdminOptions_t* opts = handle_->options(RD_KAFKA_ADMIN_OP_DELETEGROUPS, false);
  rd_kafka_DeleteGroups(handle_->rk, reqs.data(), reqs.size(), opts, q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_DeleteGroup_destroy_array(reqs.data(), reqs.size());
  std::optional<AdminError> callError;
  rd_kafka_event_t* ev = handle_->awaitOn(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, callError);
  rd_kafka_queue_destroy(q);
  if (!ev) {
    for (const auto& g : groups) out.push_back({g, callError});
    return out;
  }
  size_t n = 0;
  const rd_kafka_group_result_t** rs = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
  std::unordered_map<std::string, std::optional<AdminError>> byName;
  for (size_t i = 0; i < n; ++i) {
    std::optional<AdminError> e;
    if (const rd_kafka_error_t* err = rd_kafka_group_result_error(rs[i]))
      e = errorOf(rd_kafka_error_code(err), rd_kafka_error_string(err));
    byName[rd_kafka_group_result_name(rs[i])] = e;
  }
  rd_kafka_event_destroy(ev);
  for (const auto& g : groups) {
    auto it = byName.find(g);
    if (it == byName.end()) out.push_back({g, AdminError{AdminErrorCode::Other, "no result for the group"}});
    else out.push_back({g, it->second});
  }
  return out;
}

std::vector<PartitionOffset> RdKafkaClusterAdmin::listOffsets(const std::vector<OffsetQuery>& queries) {
  std::vector<PartitionOffset> out;
  if (queries.empty()) return out;
  // librdkafka 2.0.2 has no ListOffsets admin call; rd_kafka_offsets_for_times
  // takes a whole partition list and sends one ListOffsets request per leader
  // broker, with each element's "offset" as the timestamp to look up — Kafka's
  // -2 (earliest) and -1 (latest) included. It rejects duplicate partitions, so
  // queries for the same partition at different times go in separate rounds.
  std::vector<std::map<TopicPartition, size_t>> rounds;
  for (size_t i = 0; i < queries.size(); ++i) {
    TopicPartition tp{queries[i].topic, queries[i].partition};
    size_t r = 0;
    while (r < rounds.size() && rounds[r].count(tp)) ++r;
    if (r == rounds.size()) rounds.emplace_back();
    rounds[r][tp] = i;
  }
  out.resize(queries.size());
  for (const auto& round : rounds) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(round.size()));
    for (const auto& [tp, i] : round)
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = queries[i].timestamp;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(handle_->rk, list, static_cast<int>(handle_->timeout.count()));
    for (int e = 0; e < list->cnt; ++e) {
      const rd_kafka_topic_partition_t& p = list->elems[e];
      const size_t i = round.at(TopicPartition{p.topic, p.partition});
      PartitionOffset& o = out[i];
      o.topic = p.topic;
      o.partition = p.partition;
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        o.error = errorOf(err, nullptr);
      } else if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        o.error = errorOf(p.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : p.err,
                          nullptr);
      } else if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        o.error = errorOf(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, nullptr);
      } else {
        o.offset = p.offset;
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
  }
  return out;
}

std::vector<RecordAt> RdKafkaClusterAdmin::recordTimestamps(const std::vector<RecordAt>& at) {
  std::vector<RecordAt> out = at;
  if (at.empty()) return out;
  // A consumer of its own for the call: assign() every position (no group
  // join, no commit), then read until each partition gave its first record,
  // reached its end, or the request timeout passed. librdkafka fetches from
  // each leader broker with one Fetch for all its partitions; the fetch size
  // is kept at its minimum (a broker still returns one whole batch).
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  bool ok = true;
  auto set = [&](const std::string& k, const std::string& v) {
    ok = ok && rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  set("bootstrap.servers", handle_->connection.bootstrapServers);
  for (const auto& [k, v] : handle_->connection.properties) set(k, v);
  // assign() needs a group id; nothing is ever committed under it, nor joined.
  set("group.id", "tributary-operator-record-timestamps");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  set("fetch.message.max.bytes", "1");
  set("fetch.wait.max.ms", "10");
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    for (auto& r : out) r.error = AdminError{AdminErrorCode::Other, std::string("consumer configuration: ") + err};
    return out;
  }
  rd_kafka_conf_set_log_cb(conf, logToJson);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    for (auto& r : out) r.error = AdminError{AdminErrorCode::Other, err};
    return out;
  }
  // One assignment per round: a partition asked at several offsets (groups
  // at different positions on one topic) goes into several rounds.
  std::vector<std::map<std::pair<TopicPartition, int64_t>, std::vector<size_t>>> rounds;
  {
    std::map<std::pair<TopicPartition, int64_t>, size_t> roundOf;
    std::map<TopicPartition, size_t> roundsOf;  // rounds a partition is in
    for (size_t i = 0; i < at.size(); ++i) {
      const TopicPartition tp{at[i].topic, at[i].partition};
      auto [it, fresh] = roundOf.emplace(std::make_pair(tp, at[i].offset), 0);
      if (fresh) it->second = roundsOf[tp]++;
      if (it->second >= rounds.size()) rounds.resize(it->second + 1);
      rounds[it->second][{tp, at[i].offset}].push_back(i);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + handle_->timeout;
  for (auto& round : rounds) {
    std::map<TopicPartition, std::vector<size_t>> waiting;
    std::map<TopicPartition, int64_t> from;  // a message before it is a previous round's
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(round.size()));
    for (auto& [key, indexes] : round) {
      rd_kafka_topic_partition_list_add(list, key.first.topic.c_str(), key.first.partition)->offset = key.second;
      waiting[key.first] = indexes;
      from[key.first] = key.second;
    }
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (auto& [tp, indexes] : waiting)
        for (size_t i : indexes) out[i].error = errorOf(aerr, nullptr);
      continue;
    }
    auto settle = [&](const TopicPartition& tp, std::optional<int64_t> ts, std::optional<AdminError> e) {
      auto it = waiting.find(tp);
      if (it == waiting.end()) return;
      for (size_t i : it->second) {
        out[i].timestampMs = ts;
        out[i].error = e;
      }
      waiting.erase(it);
    };
    while (!waiting.empty() && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (m->rkt) {
        const TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && from.count(tp) && m->offset < from[tp]) {
          // a previous round's record: not this position's
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          rd_kafka_timestamp_type_t type;
          const int64_t ts = rd_kafka_message_timestamp(m, &type);
          settle(tp, ts >= 0 ? std::optional<int64_t>(ts) : std::nullopt, std::nullopt);
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          settle(tp, std::nullopt, std::nullopt);  // nothing at or after the offset
        } else if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT) {
          settle(tp, std::nullopt, errorOf(m->err, rd_kafka_message_errstr(m)));
        }
      }
      rd_kafka_message_destroy(m);
    }
    for (const auto& [tp, indexes] : waiting)
      for (size_t i : indexes)
        out[i].error = AdminError{AdminErrorCode::Unavailable, "no record within the request timeout"};
  }
  rd_kafka_assign(rk, nullptr);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace tributary::op::kafka
