#include "operator/app/file_mode.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/config/duration.h"
#include "operator/app/operator_config.h"
#include "operator/app/yaml_json.h"
#include "operator/group/group_reconciler.h"
#include "operator/group/kafka_consumer_group.h"
#include "operator/kafka/reloading_cluster_admin.h"
#include "operator/topic/kafka_topic.h"
#include "operator/topic/topic_reconciler.h"

namespace tributary::op::app {

using nlohmann::json;
using topic::KafkaTopic;
using topic::TopicAction;
using topic::TopicOutcome;

const char* const kApplyUsage =
    "usage: tributary-operator apply -f PATH... [--dry-run] [--output text|json]\n"
    "                                [--bootstrap-servers LIST] [--config FILE] [--timeout DURATION]\n"
    "  -f, --filename PATH     KafkaTopic / KafkaConsumerGroup YAML: a file (several documents allowed)\n"
    "                          or a directory (its *.yaml and *.yml files, in name order); repeatable\n"
    "  --dry-run               print the plan (topics validated by the brokers, offset resets\n"
    "                          per partition before -> after); change nothing\n"
    "  -o, --output FORMAT     text (default) or json\n"
    "  --bootstrap-servers L   Kafka brokers of the `default` cluster (overrides the config file)\n"
    "  --config FILE           operator configuration: clusters: {NAME: {bootstrapServers, properties}}\n"
    "  --timeout DURATION      per Kafka request (default 30s)\n"
    "exit codes: 0 everything converged (dry run: nothing refused), 1 something was refused or failed,\n"
    "            2 usage or configuration error\n";

AdminFactory rdkafkaAdminFactory() {
  // ${file:...} / ${env:...} in the cluster's properties: resolved here, and
  // files re-read when they change (new clients get the new values).
  return [](const std::string& name, const kafka::ClusterConnection& connection,
            std::string& error) -> std::unique_ptr<kafka::ClusterAdmin> {
    return kafka::ReloadingClusterAdmin::create(
        connection, "clusters." + name + ".properties",
        [](const kafka::ClusterConnection& resolved, std::string& e) -> std::unique_ptr<kafka::ClusterAdmin> {
          return kafka::RdKafkaClusterAdmin::create(resolved, e);
        },
        error);
  };
}

namespace {

struct ApplyOptions {
  std::vector<std::string> paths;
  bool dryRun = false;
  bool json = false;
  std::optional<std::string> bootstrapServers;
  std::optional<std::string> configPath;
  std::chrono::milliseconds timeout{30'000};
};

// Parses the command line; returns an error message for a usage error.
std::optional<std::string> parseArgs(const std::vector<std::string>& args, ApplyOptions& o, bool& help) {
  auto valueOf = [&](size_t& i, const std::string& flag, std::string& value) -> std::optional<std::string> {
    const std::string& a = args[i];
    if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) {
      value = a.substr(flag.size() + 1);
      return std::nullopt;
    }
    if (i + 1 >= args.size()) return flag + " needs a value";
    value = args[++i];
    return std::nullopt;
  };
  auto is = [&](const std::string& a, std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (a == n || a.rfind(std::string(n) + "=", 0) == 0) return true;
    return false;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    if (a == "--help" || a == "-h") {
      help = true;
      return std::nullopt;
    } else if (a == "--dry-run" || a == "--dry-run=true") {
      o.dryRun = true;
    } else if (a == "--dry-run=false") {
      o.dryRun = false;
    } else if (is(a, {"-f", "--filename"})) {
      if (auto e = valueOf(i, a.rfind("--filename", 0) == 0 ? "--filename" : "-f", v)) return e;
      if (v.empty()) return std::string("-f needs a path");
      o.paths.push_back(v);
    } else if (is(a, {"-o", "--output"})) {
      if (auto e = valueOf(i, a.rfind("--output", 0) == 0 ? "--output" : "-o", v)) return e;
      if (v != "text" && v != "json") return "--output must be text or json, got \"" + v + "\"";
      o.json = v == "json";
    } else if (is(a, {"--bootstrap-servers"})) {
      if (auto e = valueOf(i, "--bootstrap-servers", v)) return e;
      if (v.empty()) return std::string("--bootstrap-servers must not be empty");
      o.bootstrapServers = v;
    } else if (is(a, {"--config"})) {
      if (auto e = valueOf(i, "--config", v)) return e;
      o.configPath = v;
    } else if (is(a, {"--timeout"})) {
      if (auto e = valueOf(i, "--timeout", v)) return e;
      auto d = parseDuration(v);
      if (!d || d->count() <= 0) return "--timeout must be a duration such as 10s or 500ms, got \"" + v + "\"";
      o.timeout = *d;
    } else {
      return "unknown argument " + a;
    }
  }
  if (o.paths.empty()) return std::string("no input: give -f PATH");
  return std::nullopt;
}

// A document that could not become a KafkaTopic, or a note about one skipped.
struct Input {
  std::string where;  // "file.yaml: document 2"
  std::optional<KafkaTopic> topic;
  std::optional<TopicOutcome> invalid;  // InvalidSpec outcome, errors prefixed with `where`
};

// A KafkaConsumerGroup document: valid, or its errors.
struct GroupInput {
  std::string where;
  group::ResourceIdentity resource;
  std::optional<group::KafkaConsumerGroup> group;
  std::vector<std::string> errors;  // prefixed with `where`
};

// What apply did (or would do) with one KafkaConsumerGroup: "resetOffsets"
// (spec.offsetReset), "observe" (state and lag), or "rejected".
struct GroupLine {
  group::ResourceIdentity resource;
  std::string groupId;
  std::string cluster;
  std::string action;
  std::vector<std::string> details;
  std::string reason;
  std::string message;
  bool converged = false;
  bool success = false;  // nothing to say beyond the details
};

GroupLine resetLine(const group::ResetOutcome& o, const std::string& cluster) {
  GroupLine l{o.resource, o.groupId, cluster, "resetOffsets", {}, o.reason, o.message, o.converged, false};
  for (const auto& m : o.partitions) l.details.push_back(group::describe(m));
  l.success = o.reason == group::reason::kOffsetsReset || o.reason == group::reason::kResetPlanned;
  if (!o.converged && o.reason != group::reason::kGroupNotEmpty && o.reason != group::reason::kKafkaUnavailable)
    l.action = "rejected";
  return l;
}

GroupLine observeLine(const group::GroupLag& lag, const std::string& cluster) {
  GroupLine l{lag.resource, lag.groupId, cluster, "observe", {}, group::reason::kObserved, "", !lag.error, !lag.error};
  if (lag.error) {
    l.reason = lag.error->code == kafka::AdminErrorCode::Unavailable ? group::reason::kKafkaUnavailable
                                                                      : group::reason::kKafkaError;
    l.message = lag.error->message;
    return l;
  }
  l.details.push_back("state " + std::string(kafka::toString(lag.state)) + ", " + std::to_string(lag.members.size()) +
                      " member(s), lag " + std::to_string(lag.totalLag));
  for (const auto& t : lag.topics) {
    if (t.missing) {
      l.details.push_back(t.topic + ": the topic does not exist");
      continue;
    }
    for (const auto& p : t.partitions)
      l.details.push_back(t.topic + "-" + std::to_string(p.partition) + ": committed " +
                          (p.committed ? std::to_string(*p.committed) : std::string("(none)")) + ", log end " +
                          std::to_string(p.logEnd) + ", lag " + std::to_string(p.lag));
  }
  return l;
}

void printGroupsText(std::ostream& out, const std::vector<GroupLine>& lines, bool dryRun) {
  if (lines.empty()) return;
  int resets = 0, observed = 0, refused = 0, failed = 0;
  for (const auto& l : lines) {
    out << l.action << " " << l.resource.kind << " " << l.resource.namespace_ << "/" << l.resource.name;
    if (!l.groupId.empty())
      out << " (group " << l.groupId << (l.cluster != "default" && !l.cluster.empty() ? " in cluster " + l.cluster : "")
          << ")";
    out << "\n";
    for (const auto& d : l.details) out << "    " << d << "\n";
    if (l.reason == group::reason::kInvalidSpec) out << "    " << l.reason << ": the document is not a valid KafkaConsumerGroup\n";
    else if (!l.success) out << "    " << l.reason << ": " << l.message << "\n";
    if (l.action == "rejected") ++refused;
    else if (!l.converged) ++failed;
    else if (l.action == "resetOffsets") ++resets;
    else ++observed;
  }
  out << "Groups: " << resets << (dryRun ? " to reset, " : " reset, ") << observed
      << " observed, " << refused << " refused, " << failed << " failed\n";
}

// Expands directories into their YAML files (sorted); a missing path is an error.
std::vector<std::string> expandPaths(const std::vector<std::string>& paths, std::vector<std::string>& errors) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> inDir;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        const auto ext = entry.path().extension().string();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) inDir.push_back(entry.path().string());
      }
      if (ec) errors.push_back(p + ": cannot list the directory: " + ec.message());
      std::sort(inDir.begin(), inDir.end());
      files.insert(files.end(), inDir.begin(), inDir.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      errors.push_back(p + ": no such file or directory");
    }
  }
  return files;
}

void printText(std::ostream& out, const std::vector<TopicOutcome>& outcomes, bool dryRun) {
  int creates = 0, changes = 0, unchanged = 0, refused = 0, failed = 0, deletes = 0;
  for (const auto& o : outcomes) {
    out << topic::toString(o.action) << " " << o.resource.kind << " " << o.resource.namespace_ << "/" << o.resource.name;
    if (!o.topic.empty()) out << " (topic " << o.topic << (o.cluster != "default" && !o.cluster.empty() ? " in cluster " + o.cluster : "") << ")";
    out << "\n";
    for (const auto& d : o.details) out << "    " << d << "\n";
    const bool success = o.converged && (o.reason == topic::reason::kCreated || o.reason == topic::reason::kUpdated ||
                                         o.reason == topic::reason::kUpToDate);
    // An invalid spec's message repeats its details (the errors); say it once.
    if (o.reason == topic::reason::kInvalidSpec) out << "    " << o.reason << ": the document is not a valid KafkaTopic\n";
    else if (!success) out << "    " << o.reason << ": " << o.message << "\n";
    switch (o.action) {
      case TopicAction::Create: (o.converged ? creates : failed)++; break;
      case TopicAction::AddPartitions:
      case TopicAction::AlterConfig:
      case TopicAction::AddPartitionsAndAlterConfig: (o.converged ? changes : failed)++; break;
      case TopicAction::Delete: (o.converged ? deletes : failed)++; break;
      case TopicAction::None: (o.converged ? unchanged : failed)++; break;
      case TopicAction::Rejected: refused++; break;
    }
  }
  out << (dryRun ? "Plan: " : "Applied: ") << creates << (dryRun ? " to create, " : " created, ") << changes
      << (dryRun ? " to change, " : " changed, ") << unchanged << " unchanged, " << refused << " refused, " << failed
      << " failed" << (dryRun ? " (dry run: nothing was changed)" : "") << "\n";
  (void)deletes;
}

void printJson(std::ostream& out, const std::vector<TopicOutcome>& outcomes, const std::vector<GroupLine>& groups) {
  json actions = json::array();
  for (const auto& o : outcomes) {
    actions.push_back({{"kind", o.resource.kind},
                       {"namespace", o.resource.namespace_},
                       {"name", o.resource.name},
                       {"topic", o.topic},
                       {"action", topic::toString(o.action)},
                       {"details", o.details},
                       {"reason", o.reason},
                       {"message", o.message}});
  }
  for (const auto& l : groups)
    actions.push_back({{"kind", l.resource.kind},
                       {"namespace", l.resource.namespace_},
                       {"name", l.resource.name},
                       {"group", l.groupId},
                       {"action", l.action},
                       {"details", l.details},
                       {"reason", l.reason},
                       {"message", l.message}});
  out << json{{"actions", actions}}.dump(2) << "\n";
}

}  // namespace

int runApply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const AdminFactory& factory) {
  ApplyOptions opts;
  bool help = false;
  if (auto usage = parseArgs(args, opts, help)) {
    err << "tributary-operator apply: " << *usage << "\n" << kApplyUsage;
    return kExitUsage;
  }
  if (help) {
    out << kApplyUsage;
    return kExitConverged;
  }

  OperatorConfig config;
  if (opts.configPath) {
    auto loaded = loadOperatorConfig(*opts.configPath);
    if (!loaded.config) {
      err << "tributary-operator apply: invalid configuration in " << *opts.configPath << ":\n";
      for (const auto& e : loaded.errors) err << "  - " << e << "\n";
      return kExitUsage;
    }
    config = *loaded.config;
  }
  if (opts.bootstrapServers) config.clusters["default"].bootstrapServers = *opts.bootstrapServers;
  if (config.clusters.empty()) {
    err << "tributary-operator apply: no Kafka cluster: give --bootstrap-servers or a --config with clusters\n"
        << kApplyUsage;
    return kExitUsage;
  }
  for (auto& [name, c] : config.clusters) c.requestTimeout = opts.timeout;

  // Read every document first: a file that cannot be read or parsed stops
  // everything before Kafka is touched (what it meant to declare is unknown).
  std::vector<std::string> fileErrors;
  const auto files = expandPaths(opts.paths, fileErrors);
  std::vector<Input> inputs;
  std::vector<GroupInput> groupInputs;
  std::map<std::pair<std::string, std::string>, std::string> seen;  // namespace/name → where
  std::map<std::pair<std::string, std::string>, std::string> seenGroups;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) {
      fileErrors.push_back(file + ": cannot read the file");
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::vector<json> docs;
    try {
      docs = yamlDocumentsToJson(ss.str());
    } catch (const YAML::Exception& e) {
      fileErrors.push_back(file + ": not valid YAML: " + e.what());
      continue;
    }
    for (size_t i = 0; i < docs.size(); ++i) {
      const json& doc = docs[i];
      const std::string where = file + ": document " + std::to_string(i + 1);
      if (doc.is_null()) continue;  // an empty document (a trailing `---`)
      const std::string kind = doc.is_object() && doc.contains("kind") && doc["kind"].is_string() ? doc["kind"].get<std::string>() : "";
      const std::string apiVersion =
          doc.is_object() && doc.contains("apiVersion") && doc["apiVersion"].is_string() ? doc["apiVersion"].get<std::string>() : "";
      if (kind == group::kKafkaConsumerGroupKind && apiVersion.rfind("tributary.dev/", 0) == 0) {
        GroupInput g;
        g.where = where;
        auto parsed = group::parseKafkaConsumerGroup(doc);
        g.resource = parsed.resource;
        g.errors = parsed.errors;
        const auto key = std::make_pair(parsed.resource.namespace_, parsed.resource.name);
        if (!parsed.resource.name.empty()) {
          if (auto it = seenGroups.find(key); it != seenGroups.end())
            g.errors.push_back("metadata.name: KafkaConsumerGroup " + key.first + "/" + key.second +
                               " is already declared in " + it->second);
          else seenGroups.emplace(key, where);
        }
        if (g.errors.empty()) g.group = std::move(parsed.group);
        for (auto& e : g.errors) e = where + ": " + e;
        groupInputs.push_back(std::move(g));
        continue;
      }
      if (kind != topic::kKafkaTopicKind || apiVersion.rfind("tributary.dev/", 0) != 0) {
        err << "note: " << where << ": skipping " << (kind.empty() ? "a document without kind" : apiVersion + " " + kind)
            << " (apply handles tributary.dev KafkaTopic and KafkaConsumerGroup)\n";
        continue;
      }
      Input input;
      input.where = where;
      auto parsed = topic::parseKafkaTopic(doc);
      std::vector<std::string> errors = parsed.errors;
      const auto key = std::make_pair(parsed.resource.namespace_, parsed.resource.name);
      if (!parsed.resource.name.empty()) {
        if (auto it = seen.find(key); it != seen.end())
          errors.push_back("metadata.name: KafkaTopic " + key.first + "/" + key.second + " is already declared in " + it->second);
        else seen.emplace(key, where);
      }
      if (errors.empty()) {
        input.topic = *parsed.topic;
      } else {
        for (auto& e : errors) e = where + ": " + e;
        input.invalid = topic::invalidSpecOutcome(parsed.resource, errors);
        input.invalid->topic = parsed.topic ? parsed.topic->spec.topicName : "";
      }
      inputs.push_back(std::move(input));
    }
  }
  if (!fileErrors.empty()) {
    for (const auto& e : fileErrors) err << "error: " << e << "\n";
    err << "nothing was applied\n";
    return kExitFailed;
  }
  if (inputs.empty() && groupInputs.empty())
    err << "note: no KafkaTopic or KafkaConsumerGroup documents in the given paths\n";
  for (const auto& g : groupInputs)
    for (const auto& e : g.errors) err << "error: " << e << "\n";
  for (const auto& in : inputs)
    if (in.invalid)
      for (const auto& d : in.invalid->details) err << "error: " << d << "\n";

  // One reconciler run per cluster, every topic of that cluster in it (batched
  // round trips, and name conflicts are seen across all files).
  std::vector<TopicOutcome> outcomes(inputs.size());
  std::map<std::string, std::vector<size_t>> byCluster;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].invalid) outcomes[i] = *inputs[i].invalid;
    else byCluster[inputs[i].topic->spec.cluster].push_back(i);
  }
  for (const auto& [cluster, indexes] : byCluster) {
    auto rejectAll = [&](const std::string& reason, const std::string& message) {
      for (size_t i : indexes) {
        TopicOutcome& o = outcomes[i];
        o.resource = inputs[i].topic->resource;
        o.topic = inputs[i].topic->spec.topicName;
        o.cluster = cluster;
        o.action = TopicAction::Rejected;
        o.reason = reason;
        o.message = message;
      }
    };
    auto conn = config.clusters.find(cluster);
    if (conn == config.clusters.end()) {
      std::string known;
      for (const auto& [n, c] : config.clusters) known += (known.empty() ? "" : ", ") + n;
      rejectAll("UnknownCluster", "spec.cluster: no cluster \"" + cluster + "\" in the configuration (known: " + known + ")");
      continue;
    }
    std::string error;
    auto admin = factory(cluster, conn->second, error);
    if (!admin) {
      rejectAll(topic::reason::kKafkaError, "cannot create a Kafka client for cluster \"" + cluster + "\": " + error);
      continue;
    }
    std::vector<KafkaTopic> topics;
    for (size_t i : indexes) topics.push_back(*inputs[i].topic);
    topic::TopicReconciler reconciler(*admin, {.dryRun = opts.dryRun});
    auto results = reconciler.reconcile(topics);
    for (size_t j = 0; j < indexes.size(); ++j) outcomes[indexes[j]] = std::move(results[j]);
  }

  // Groups, after the topics (a reset may name a topic this apply created).
  // File mode keeps no status: a reset is applied on every run that is not a
  // dry run (controller mode applies each requestId once).
  std::vector<GroupLine> groupLines(groupInputs.size());
  std::map<std::string, std::vector<size_t>> groupsByCluster;
  for (size_t i = 0; i < groupInputs.size(); ++i) {
    const auto& g = groupInputs[i];
    if (!g.group) {
      groupLines[i] = GroupLine{g.resource, "", "", "rejected", g.errors, group::reason::kInvalidSpec, "", false, false};
      continue;
    }
    groupsByCluster[g.group->spec.cluster].push_back(i);
  }
  for (const auto& [cluster, indexes] : groupsByCluster) {
    auto rejectAll = [&](const std::string& reason, const std::string& message) {
      for (size_t i : indexes)
        groupLines[i] = GroupLine{groupInputs[i].resource, groupInputs[i].group->spec.groupId, cluster, "rejected",
                                  {}, reason, message, false, false};
    };
    auto conn = config.clusters.find(cluster);
    if (conn == config.clusters.end()) {
      std::string known;
      for (const auto& [n, c] : config.clusters) known += (known.empty() ? "" : ", ") + n;
      rejectAll("UnknownCluster", "spec.cluster: no cluster \"" + cluster + "\" in the configuration (known: " + known + ")");
      continue;
    }
    std::string error;
    auto admin = factory(cluster, conn->second, error);
    if (!admin) {
      rejectAll(group::reason::kKafkaError, "cannot create a Kafka client for cluster \"" + cluster + "\": " + error);
      continue;
    }
    group::GroupReconciler reconciler(*admin, {.dryRun = opts.dryRun});
    std::vector<group::KafkaConsumerGroup> resets, observes;
    std::vector<size_t> resetIdx, observeIdx;
    for (size_t i : indexes) {
      const auto& g = *groupInputs[i].group;
      if (g.spec.paused) {
        groupLines[i] = GroupLine{g.resource, g.spec.groupId, cluster, "none", {}, "ReconciliationPaused",
                                  std::string("annotation ") + topic::kPausedAnnotation + " is \"true\"", true, false};
      } else if (g.spec.offsetReset) {
        resets.push_back(g);
        resetIdx.push_back(i);
      } else {
        observes.push_back(g);
        observeIdx.push_back(i);
      }
    }
    auto resetResults = reconciler.reset(resets);
    for (size_t j = 0; j < resetIdx.size() && j < resetResults.size(); ++j)
      groupLines[resetIdx[j]] = resetLine(resetResults[j], cluster);
    auto lagResults = reconciler.observe(observes);
    for (size_t j = 0; j < observeIdx.size() && j < lagResults.size(); ++j)
      groupLines[observeIdx[j]] = observeLine(lagResults[j], cluster);
  }

  if (opts.json) {
    printJson(out, outcomes, groupLines);
  } else {
    printText(out, outcomes, opts.dryRun);
    printGroupsText(out, groupLines, opts.dryRun);
  }
  const bool allConverged = std::all_of(outcomes.begin(), outcomes.end(), [](const TopicOutcome& o) { return o.converged; }) &&
                            std::all_of(groupLines.begin(), groupLines.end(), [](const GroupLine& l) { return l.converged; });
  return allConverged ? kExitConverged : kExitFailed;
}

}  // namespace tributary::op::app
