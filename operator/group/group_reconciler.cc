#include "operator/group/group_reconciler.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace tributary::op::group {

using kafka::AdminErrorCode;
using kafka::OffsetQuery;

namespace {

bool hasMembers(const kafka::GroupDescription& d) {
  return !d.members.empty() || d.state == GroupState::Stable || d.state == GroupState::PreparingRebalance ||
         d.state == GroupState::CompletingRebalance;
}

// A Kafka-side failure as an outcome's reason, message and retry advice.
void fail(ResetOutcome& o, const AdminError& e, const std::string& doing) {
  o.converged = false;
  o.message = doing + ": " + e.message;
  switch (e.code) {
    case AdminErrorCode::Unavailable:
      o.reason = reason::kKafkaUnavailable;
      o.message = doing + ": Kafka did not answer (" + e.message + "); will retry";
      o.retryable = true;
      return;
    case AdminErrorCode::GroupNotEmpty:
      o.reason = reason::kGroupNotEmpty;
      o.message = doing + ": the group has active members (" + e.message + "); will retry once it is empty";
      o.retryable = true;
      return;
    case AdminErrorCode::Unauthorized: o.reason = reason::kUnauthorized; return;
    case AdminErrorCode::TopicNotFound: o.reason = reason::kTopicNotFound; return;
    default:
      o.reason = reason::kKafkaError;
      o.retryable = true;
      return;
  }
}

// The partitions of the topics `want` as the cluster describes them; topics
// that do not exist are reported in `missing`, failures in `error`.
std::map<std::string, int> partitionCounts(kafka::ClusterAdmin& admin, const std::set<std::string>& want,
                                           std::set<std::string>& missing, std::optional<AdminError>& error) {
  std::map<std::string, int> out;
  if (want.empty()) return out;
  for (const auto& d : admin.describeTopics({want.begin(), want.end()})) {
    if (d.description) out[d.topic] = d.description->partitions;
    else if (d.error && d.error->code == AdminErrorCode::TopicNotFound) missing.insert(d.topic);
    else if (d.error && !error) error = d.error;
  }
  return out;
}

// One resource's interest in a pass: its group, and the topics it looks at
// — known beforehand, or (fromOffsets) every topic its group has committed
// offsets for, filled in by readOffsetsAndPartitions.
struct Interest {
  std::string groupId;
  std::set<std::string>* topics;
  bool fromOffsets = false;
};

struct OffsetsAndPartitions {
  std::unordered_map<std::string, kafka::GroupOffsets> offsets;  // by group id
  std::map<std::string, int> counts;                               // partitions of each existing topic
  std::set<std::string> missing;                                   // topics that do not exist
  std::optional<AdminError> describeError;
};

// The committed offsets of `ids` and the partitions of the topics of
// `interest`. Known topics are described first, so that a group whose every
// resource names its topics is asked its offsets for exactly their
// partitions (listGroupOffsets' `only`); the topics of the others come from
// their offsets and are described after.
OffsetsAndPartitions readOffsetsAndPartitions(kafka::ClusterAdmin& admin, const std::vector<std::string>& ids,
                                              std::vector<Interest>& interest) {
  OffsetsAndPartitions r;
  std::set<std::string> named, wantsAll;
  for (const auto& i : interest) {
    if (i.fromOffsets) wantsAll.insert(i.groupId);
    else named.insert(i.topics->begin(), i.topics->end());
  }
  r.counts = partitionCounts(admin, named, r.missing, r.describeError);
  std::map<std::string, std::set<TopicPartition>> asked;
  for (const auto& i : interest) {
    if (i.fromOffsets || wantsAll.count(i.groupId)) continue;
    auto& partitions = asked[i.groupId];
    for (const auto& topic : *i.topics)
      if (auto c = r.counts.find(topic); c != r.counts.end())
        for (int p = 0; p < c->second; ++p) partitions.insert({topic, p});
  }
  kafka::GroupPartitions only;
  for (auto& [id, partitions] : asked) only[id] = {partitions.begin(), partitions.end()};
  for (auto& o : admin.listGroupOffsets(ids, only)) r.offsets[o.group] = std::move(o);
  std::set<std::string> discovered;
  for (auto& i : interest) {
    if (!i.fromOffsets) continue;
    if (auto it = r.offsets.find(i.groupId); it != r.offsets.end())
      for (const auto& p : it->second.offsets) i.topics->insert(p.topic);
    for (const auto& t : *i.topics)
      if (!named.count(t)) discovered.insert(t);
  }
  r.counts.merge(partitionCounts(admin, discovered, r.missing, r.describeError));
  return r;
}

// Log start and end of every partition given: two rounds of ListOffsets
// (earliest, latest) in one call.
std::map<TopicPartition, LogRange> logRanges(kafka::ClusterAdmin& admin, const std::set<TopicPartition>& partitions,
                                             std::map<TopicPartition, AdminError>& errors) {
  std::map<TopicPartition, LogRange> out;
  if (partitions.empty()) return out;
  std::vector<OffsetQuery> queries;
  for (const auto& tp : partitions) queries.push_back({tp.topic, tp.partition, kafka::kEarliestTimestamp});
  for (const auto& tp : partitions) queries.push_back({tp.topic, tp.partition, kafka::kLatestTimestamp});
  auto answers = admin.listOffsets(queries);
  for (size_t i = 0; i < answers.size() && i < queries.size(); ++i) {
    const TopicPartition tp{queries[i].topic, queries[i].partition};
    if (answers[i].error) {
      errors.emplace(tp, *answers[i].error);
      continue;
    }
    if (queries[i].timestamp == kafka::kEarliestTimestamp) out[tp].start = answers[i].offset;
    else out[tp].end = answers[i].offset;
  }
  for (const auto& [tp, e] : errors) out.erase(tp);
  return out;
}

}  // namespace

GroupReconciler::GroupReconciler(kafka::ClusterAdmin& admin, GroupReconcilerOptions options)
    : admin_(admin), options_(options) {}

std::vector<GroupLag> GroupReconciler::observe(const std::vector<KafkaConsumerGroup>& groups, LagHistory* history,
                                               std::chrono::system_clock::time_point now) {
  std::vector<GroupLag> out(groups.size());
  if (groups.empty()) return out;
  // Distinct group ids: two resources watching one group cost one lookup.
  std::vector<std::string> ids;
  {
    std::set<std::string> seen;
    for (const auto& g : groups)
      if (seen.insert(g.spec.groupId).second) ids.push_back(g.spec.groupId);
  }
  std::unordered_map<std::string, kafka::GroupDescribeResult> described;
  std::optional<AdminError> unavailable;
  for (auto& d : admin_.describeGroups(ids)) {
    if (d.error && d.error->code == AdminErrorCode::Unavailable) unavailable = d.error;
    described[d.group] = std::move(d);
  }
  // Brokers that do not answer: every further call would wait its own
  // timeout too (and hold up a shutdown); the pass ends here.
  if (unavailable && described.size() == ids.size() &&
      std::all_of(described.begin(), described.end(), [](const auto& d) {
        return d.second.error && d.second.error->code == AdminErrorCode::Unavailable;
      })) {
    for (size_t i = 0; i < groups.size(); ++i) {
      out[i].resource = groups[i].resource;
      out[i].groupId = groups[i].spec.groupId;
      out[i].error = unavailable;
    }
    return out;
  }
  // Which topics each group reports: spec.topics, else those it has offsets for.
  std::vector<std::set<std::string>> topicsOf(groups.size());
  std::vector<Interest> interest;
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& spec = groups[i].spec;
    topicsOf[i].insert(spec.topics.begin(), spec.topics.end());
    interest.push_back({spec.groupId, &topicsOf[i], spec.topics.empty()});
  }
  auto [offsets, counts, missing, describeError] = readOffsetsAndPartitions(admin_, ids, interest);
  std::set<TopicPartition> partitions;
  for (const auto& [topic, n] : counts)
    for (int p = 0; p < n; ++p) partitions.insert({topic, p});
  std::map<TopicPartition, AdminError> rangeErrors;
  const auto ranges = logRanges(admin_, partitions, rangeErrors);
  if (history)
    for (const auto& [tp, r] : ranges) history->record(tp, r.end, now);

  for (size_t i = 0; i < groups.size(); ++i) {
    GroupLag& lag = out[i];
    const auto& g = groups[i];
    lag.resource = g.resource;
    lag.groupId = g.spec.groupId;
    const auto& d = described[g.spec.groupId];
    const auto& o = offsets[g.spec.groupId];
    // Brokers without DescribeGroups (librdkafka's mock cluster, some
    // Kafka-compatible services): state and members are unknown, the lag —
    // committed and log offsets — is still what it is.
    const bool describable = !(d.error && d.error->code == AdminErrorCode::Unsupported);
    if (describable && (d.error || !d.description)) {
      lag.error = d.error.value_or(AdminError{AdminErrorCode::Other, "no description of the group"});
      continue;
    }
    if (o.error) {
      lag.error = o.error;
      continue;
    }
    if (describeError) {
      lag.error = describeError;
      continue;
    }
    if (describable) {
      lag.state = d.description->state;
      lag.members = d.description->members;
    }
    std::map<TopicPartition, int64_t> committed;
    for (const auto& p : o.offsets)
      if (!p.error && p.offset >= 0) committed[{p.topic, p.partition}] = p.offset;
    for (const auto& topic : topicsOf[i]) {
      TopicLag t;
      t.topic = topic;
      auto count = counts.find(topic);
      if (count == counts.end()) {
        t.missing = missing.count(topic) > 0;
        // Deleted under the group: Kafka keeps the committed offsets until they
        // expire; they are listed without log offsets and count no lag.
        for (const auto& [tp, c] : committed)
          if (tp.topic == topic) t.partitions.push_back({tp.partition, c, 0, 0, 0, false});
        lag.topics.push_back(std::move(t));
        continue;
      }
      for (int p = 0; p < count->second; ++p) {
        const TopicPartition tp{topic, p};
        auto range = ranges.find(tp);
        if (range == ranges.end()) {
          if (!lag.error) {
            auto e = rangeErrors.find(tp);
            lag.error = e != rangeErrors.end() ? e->second : AdminError{AdminErrorCode::Other, "no log offsets for " + topic};
          }
          continue;
        }
        PartitionLag pl;
        pl.partition = p;
        pl.logStart = range->second.start;
        pl.logEnd = range->second.end;
        if (auto c = committed.find(tp); c != committed.end()) {
          pl.committed = c->second;
          // Records deleted by retention (committed < log start) are gone:
          // what is left to consume starts at the log start. A committed
          // offset past the end (topic recreated) counts no lag.
          pl.lag = std::max<int64_t>(0, pl.logEnd - std::max(c->second, pl.logStart));
        } else {
          pl.noCommittedOffset = true;
          pl.lag = std::max<int64_t>(0, pl.logEnd - pl.logStart);
        }
        if (history) {
          auto seconds = history->lagSeconds(tp, std::max(pl.committed.value_or(pl.logStart), pl.logStart), now);
          if (seconds && (!lag.lagSeconds || *seconds > *lag.lagSeconds)) lag.lagSeconds = seconds;
        }
        t.lag += pl.lag;
        ++lag.partitions;
        if (pl.lag > 0) ++lag.partitionsWithLag;
        t.partitions.push_back(pl);
      }
      lag.totalLag += t.lag;
      lag.topics.push_back(std::move(t));
    }
    if (lag.error) {  // a partial view is no view: the status keeps its last good one
      lag.topics.clear();
      lag.totalLag = 0;
    }
  }
  readRecordTimestamps(out, now);
  if (history) history->sweep();
  return out;
}

void GroupReconciler::readRecordTimestamps(std::vector<GroupLag>& lags, std::chrono::system_clock::time_point now) {
  // The age of each group's oldest unconsumed record, from that record's own
  // timestamp: one read per lagging partition at max(committed, log start),
  // all in one call. Where a record cannot be read, the history's estimate
  // (computed above) stands.
  std::vector<kafka::RecordAt> at;
  std::map<std::pair<TopicPartition, int64_t>, size_t> index;
  for (const auto& lag : lags) {
    if (lag.error) continue;
    for (const auto& t : lag.topics)
      for (const auto& p : t.partitions) {
        if (p.lag <= 0) continue;
        const int64_t offset = std::max(p.committed.value_or(p.logStart), p.logStart);
        if (index.emplace(std::make_pair(TopicPartition{t.topic, p.partition}, offset), at.size()).second)
          at.push_back({t.topic, p.partition, offset, std::nullopt, std::nullopt});
      }
  }
  if (at.empty()) return;
  const auto read = admin_.recordTimestamps(at);
  const int64_t nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (auto& lag : lags) {
    if (lag.error) continue;
    std::optional<int64_t> oldest;  // seconds, over the partitions whose record was read
    bool allRead = true;
    for (const auto& t : lag.topics)
      for (const auto& p : t.partitions) {
        if (p.lag <= 0) continue;
        const int64_t offset = std::max(p.committed.value_or(p.logStart), p.logStart);
        auto i = index.find({TopicPartition{t.topic, p.partition}, offset});
        if (i == index.end() || i->second >= read.size() || read[i->second].error || !read[i->second].timestampMs) {
          allRead = false;
          continue;
        }
        const int64_t age = std::max<int64_t>(0, (nowMs - *read[i->second].timestampMs) / 1000);
        if (!oldest || age > *oldest) oldest = age;
      }
    if (!oldest) continue;
    lag.lagSeconds = allRead ? *oldest : std::max(*oldest, lag.lagSeconds.value_or(0));
  }
}

std::vector<ResetOutcome> GroupReconciler::reset(const std::vector<KafkaConsumerGroup>& groups) {
  std::vector<ResetOutcome> out(groups.size());
  std::vector<size_t> pending;  // indexes still going
  std::vector<std::string> ids;
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& o = out[i];
    o.resource = groups[i].resource;
    o.groupId = groups[i].spec.groupId;
    if (!groups[i].spec.offsetReset) {
      o.reason = reason::kInvalidSpec;
      o.message = "spec.offsetReset is not set";
      continue;
    }
    o.requestId = groups[i].spec.offsetReset->requestId;
    pending.push_back(i);
    ids.push_back(o.groupId);
  }
  if (pending.empty()) return out;

  // 1. Only an empty group may be reset: Kafka refuses commits while members
  // exist, and a reset under running consumers would be undone by their next commit.
  std::unordered_map<std::string, kafka::GroupDescribeResult> described;
  for (auto& d : admin_.describeGroups(ids)) described[d.group] = std::move(d);
  std::vector<size_t> empty;
  for (size_t i : pending) {
    auto& o = out[i];
    const auto& d = described[o.groupId];
    // Brokers without DescribeGroups: the broker's own check is what stands —
    // it refuses an admin commit while the group has members (UNKNOWN_MEMBER_ID
    // or REBALANCE_IN_PROGRESS, which become GroupNotEmpty below).
    if (d.error && d.error->code == AdminErrorCode::Unsupported) {
      empty.push_back(i);
      continue;
    }
    if (d.error || !d.description) {
      fail(o, d.error.value_or(AdminError{AdminErrorCode::Other, "no description"}), "describing the group");
      continue;
    }
    if (hasMembers(*d.description)) {
      o.reason = reason::kGroupNotEmpty;
      o.retryable = true;
      o.message = "group " + o.groupId + " has " + std::to_string(d.description->members.size()) +
                  " active member(s) (state " + std::string(kafka::toString(d.description->state)) +
                  "); the reset waits until its consumers are stopped";
      continue;
    }
    empty.push_back(i);
  }
  if (empty.empty()) return out;

  // 2. Committed offsets (before), the scope's partitions and their log ranges.
  std::vector<std::string> emptyIds;
  for (size_t i : empty) emptyIds.push_back(out[i].groupId);
  // The scope: offsetReset.topics, the listed offsets' topics, spec.topics,
  // else every topic the group has offsets for.
  std::vector<std::set<std::string>> scope(groups.size());
  std::vector<Interest> interest;
  for (size_t i : empty) {
    const auto& spec = groups[i].spec;
    const auto& r = *spec.offsetReset;
    if (!r.topics.empty()) scope[i].insert(r.topics.begin(), r.topics.end());
    else if (r.to == ResetTo::Offsets) for (const auto& e : r.offsets) scope[i].insert(e.topic);
    else if (!spec.topics.empty()) scope[i].insert(spec.topics.begin(), spec.topics.end());
    interest.push_back({spec.groupId, &scope[i], scope[i].empty()});
  }
  auto [offsets, counts, missing, describeError] = readOffsetsAndPartitions(admin_, emptyIds, interest);
  std::set<TopicPartition> partitions;
  for (const auto& [topic, n] : counts)
    for (int p = 0; p < n; ++p) partitions.insert({topic, p});
  std::map<TopicPartition, AdminError> rangeErrors;
  const auto ranges = logRanges(admin_, partitions, rangeErrors);
  // to: timestamp — one more ListOffsets round for those partitions.
  std::vector<OffsetQuery> timeQueries;
  for (size_t i : empty) {
    const auto& r = *groups[i].spec.offsetReset;
    if (r.to != ResetTo::Timestamp) continue;
    for (const auto& topic : scope[i])
      if (auto c = counts.find(topic); c != counts.end())
        for (int p = 0; p < c->second; ++p) timeQueries.push_back({topic, p, r.timestampMs});
  }
  std::map<std::pair<TopicPartition, int64_t>, kafka::PartitionOffset> byTime;
  if (!timeQueries.empty()) {
    auto answers = admin_.listOffsets(timeQueries);
    for (size_t q = 0; q < answers.size() && q < timeQueries.size(); ++q)
      byTime[{{timeQueries[q].topic, timeQueries[q].partition}, timeQueries[q].timestamp}] = answers[q];
  }

  // 3. Plan per group; a group with any refusal changes nothing.
  std::vector<kafka::GroupOffsets> changes;
  std::vector<size_t> changing;
  for (size_t i : empty) {
    auto& o = out[i];
    const auto& r = *groups[i].spec.offsetReset;
    const auto& listed = offsets[o.groupId];
    if (listed.error) {
      fail(o, *listed.error, "listing the group's committed offsets");
      continue;
    }
    if (describeError) {
      fail(o, *describeError, "describing the reset's topics");
      continue;
    }
    std::vector<std::string> gone;
    for (const auto& t : scope[i])
      if (missing.count(t)) gone.push_back(t);
    if (!gone.empty()) {
      o.reason = reason::kTopicNotFound;
      o.message = "topic " + gone.front() + " does not exist; nothing was reset";
      continue;
    }
    ResetInputs in;
    std::optional<AdminError> rangeError;
    for (const auto& topic : scope[i])
      if (auto c = counts.find(topic); c != counts.end())
        for (int p = 0; p < c->second; ++p) {
          const TopicPartition tp{topic, p};
          if (auto rg = ranges.find(tp); rg != ranges.end()) in.logs[tp] = rg->second;
          else if (auto e = rangeErrors.find(tp); e != rangeErrors.end() && !rangeError) rangeError = e->second;
          if (r.to == ResetTo::Timestamp)
            if (auto t = byTime.find({tp, r.timestampMs}); t != byTime.end()) {
              if (t->second.error && !rangeError) rangeError = t->second.error;
              else in.byTimestamp[tp] = t->second.offset;
            }
        }
    if (rangeError) {
      fail(o, *rangeError, "reading the partitions' offsets");
      continue;
    }
    for (const auto& p : listed.offsets)
      if (!p.error && p.offset >= 0) in.committed[{p.topic, p.partition}] = p.offset;
    ResetPlan plan = planReset(r, in);
    o.partitions = plan.partitions;
    if (!plan.errors.empty()) {
      o.reason = reason::kOffsetOutOfRange;
      o.message = "nothing was reset: ";
      for (size_t e = 0; e < plan.errors.size(); ++e) o.message += (e ? "; " : "") + plan.errors[e];
      continue;
    }
    if (plan.partitions.empty()) {
      o.reason = reason::kNothingToReset;
      o.message = "no partition is in the reset's scope (the group has no committed offsets and names no topics)";
      o.converged = true;
      continue;
    }
    if (options_.dryRun) {
      o.reason = reason::kResetPlanned;
      o.message = std::to_string(plan.partitions.size()) + " partition(s) would move to " + toString(r.to);
      o.converged = true;
      continue;
    }
    kafka::GroupOffsets change{o.groupId, {}, std::nullopt};
    for (const auto& m : plan.partitions)
      change.offsets.push_back({m.partition.topic, m.partition.partition, m.after, std::nullopt});
    changes.push_back(std::move(change));
    changing.push_back(i);
  }

  // 4. Commit, one batch for every group.
  if (!changes.empty()) {
    auto results = admin_.alterGroupOffsets(changes);
    for (size_t k = 0; k < changing.size(); ++k) {
      auto& o = out[changing[k]];
      if (k >= results.size()) {
        fail(o, AdminError{AdminErrorCode::Other, "no result"}, "committing the offsets");
        continue;
      }
      const auto& res = results[k];
      std::optional<AdminError> err = res.error;
      for (const auto& p : res.offsets)
        if (p.error && !err) err = p.error;
      if (err) {
        // Kafka applies an OffsetCommit per partition; a refusal here (a
        // consumer joined meanwhile) leaves it to the retry, which re-plans.
        fail(o, *err, "committing the offsets");
        continue;
      }
      o.applied = true;
      o.converged = true;
      o.reason = reason::kOffsetsReset;
      o.message = std::to_string(o.partitions.size()) + " partition(s) reset to " +
                  toString(groups[changing[k]].spec.offsetReset->to);
    }
  }
  return out;
}

std::vector<ResetOutcome> GroupReconciler::finalize(const std::vector<KafkaConsumerGroup>& groups) {
  std::vector<ResetOutcome> out(groups.size());
  std::vector<std::string> ids;
  std::vector<size_t> deleting;
  for (size_t i = 0; i < groups.size(); ++i) {
    out[i].resource = groups[i].resource;
    out[i].groupId = groups[i].spec.groupId;
    if (groups[i].spec.deletionPolicy != DeletionPolicy::Delete || groups[i].spec.paused) {
      out[i].reason = reason::kRetained;
      out[i].message = "group " + groups[i].spec.groupId + " is kept";
      out[i].converged = true;
      continue;
    }
    if (options_.dryRun) {
      out[i].reason = reason::kDeleted;
      out[i].message = "group " + groups[i].spec.groupId + " would be deleted";
      out[i].converged = true;
      continue;
    }
    ids.push_back(groups[i].spec.groupId);
    deleting.push_back(i);
  }
  if (ids.empty()) return out;
  auto results = admin_.deleteGroups(ids);
  for (size_t k = 0; k < deleting.size(); ++k) {
    auto& o = out[deleting[k]];
    const auto& r = k < results.size() ? results[k] : kafka::GroupResult{o.groupId, AdminError{AdminErrorCode::Other, "no result"}};
    if (!r.error || r.error->code == AdminErrorCode::GroupNotFound) {
      o.applied = !r.error.has_value();
      o.converged = true;
      o.reason = reason::kDeleted;
      o.message = r.error ? "group " + o.groupId + " did not exist" : "group " + o.groupId + " deleted";
      continue;
    }
    fail(o, *r.error, "deleting group " + o.groupId);
  }
  return out;
}

}  // namespace tributary::op::group
