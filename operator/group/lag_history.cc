#include "operator/group/lag_history.h"

#include <algorithm>

namespace tributary::op::group {

LagHistory::LagHistory(size_t samplesPerPartition) : capacity_(std::max<size_t>(samplesPerPartition, 3)) {}

void LagHistory::record(const kafka::TopicPartition& tp, int64_t logEnd, TimePoint now) {
  touched_.insert(tp);
  auto& s = samples_[tp];
  if (!s.empty() && logEnd < s.back().logEnd) s.clear();  // the topic was recreated: the old history lies
  if (!s.empty() && s.back().logEnd == logEnd) {
    // Nothing written since: the next record is written after `now`.
    if (s.size() >= 2 && s[s.size() - 2].logEnd == logEnd) s.back().at = now;
    else s.push_back({logEnd, now});
    return;
  }
  s.push_back({logEnd, now});
  // Full: thin out the second-oldest sample, so that the oldest (the bound
  // for very old lag) stays and recent ones stay precise.
  if (s.size() > capacity_) s.erase(s.begin() + 1);
}

std::optional<int64_t> LagHistory::lagSeconds(const kafka::TopicPartition& tp, int64_t committed, TimePoint now) const {
  auto it = samples_.find(tp);
  if (it == samples_.end() || it->second.empty()) return std::nullopt;
  const auto& s = it->second;
  if (committed >= s.back().logEnd) return 0;
  auto seconds = [&](TimePoint t) {
    return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(now - t).count());
  };
  // The first sample whose log end is past the committed offset: the record
  // at `committed` was written between the sample before it and it.
  auto after = std::find_if(s.begin(), s.end(), [&](const Sample& x) { return x.logEnd > committed; });
  if (after == s.begin()) {
    if (s.size() == 1) return std::nullopt;  // one sample: no idea how old
    return seconds(s.front().at);            // at least as old as the history
  }
  const Sample& b = *std::prev(after);
  const Sample& a = *after;
  const double fraction = static_cast<double>(committed - b.logEnd + 1) / static_cast<double>(a.logEnd - b.logEnd);
  const auto written = b.at + std::chrono::duration_cast<TimePoint::duration>((a.at - b.at) * fraction);
  return seconds(written);
}

void LagHistory::sweep() {
  for (auto it = samples_.begin(); it != samples_.end();) it = touched_.count(it->first) ? std::next(it) : samples_.erase(it);
  touched_.clear();
}

}  // namespace tributary::op::group
