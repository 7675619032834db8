#include "tests/support/apiserver/watch_stream.h"

#include "tests/support/apiserver/object_meta.h"

namespace tributary::apiserver {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
// Longest a provider call blocks: bounds how late a closed connection is noticed
// by httplib between calls (server shutdown), never how late events arrive.
constexpr auto kPollSlice = std::chrono::milliseconds(500);
}  // namespace

WatchStream::WatchStream(ObjectStore& store, std::shared_ptr<Watcher> watcher, Settings settings)
    : store_(store), watcher_(std::move(watcher)), settings_(std::move(settings)) {
  nextBookmark_ = Clock::now() + settings_.bookmarkInterval;
}

WatchStream::~WatchStream() { release(); }

void WatchStream::release() {
  if (released_) return;
  released_ = true;
  store_.unregister(watcher_);
}

bool WatchStream::pump(httplib::DataSink& sink) {
  // httplib calls content providers outside its exception handling: an
  // exception here would end the process. Drop the connection instead.
  try {
    return pumpOnce(sink);
  } catch (const std::exception&) {
    release();
    return false;
  }
}

bool WatchStream::pumpOnce(httplib::DataSink& sink) {
  if (finished_) {
    sink.done();
    return true;
  }
  auto until = std::min(settings_.deadline, Clock::now() + kPollSlice);
  if (settings_.bookmarks) until = std::min(until, nextBookmark_);
  PollResult polled = store_.poll(*watcher_, until);

  std::string out;
  for (const auto& e : polled.events) append(out, *e);
  if (polled.error) appendLine(out, "ERROR", polled.error->status().dump());
  const auto now = Clock::now();
  const bool end = polled.closed || now >= settings_.deadline;
  if (!end && settings_.bookmarks && now >= nextBookmark_) {
    // Every event up to polled.resourceVersion has just been taken from the
    // queue, so the bookmark promises nothing this stream has not sent.
    out += bookmark(polled.resourceVersion, false);
    nextBookmark_ = now + settings_.bookmarkInterval;
  }
  if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // the client went away
  if (end) {
    finished_ = true;
    release();
    sink.done();
  }
  return true;
}

void WatchStream::append(std::string& out, const Event& e) {
  if (e.type == EventType::InitialEventsEnd) {
    if (settings_.bookmarks) out += bookmark(e.resourceVersion, true);
    return;
  }
  auto matches = [&](const ObjectPtr& o) {
    return o && watcher_->labels.matches(*o) && watcher_->fields.matches(*o);
  };
  const bool now = e.type != EventType::Deleted && matches(e.object);
  const bool before = e.type != EventType::Added && matches(e.prev);
  if (now && !before) {
    appendLine(out, "ADDED", render(*e.object));
  } else if (now && before) {
    appendLine(out, "MODIFIED", render(*e.object));
  } else if (!now && before) {
    if (e.type == EventType::Deleted) {
      appendLine(out, "DELETED", render(*e.object));
    } else {
      // It no longer matches the selector: gone from this watcher's view,
      // shown as its previous state at this event's resourceVersion.
      Json gone = *e.prev;
      gone["metadata"]["resourceVersion"] = std::to_string(e.resourceVersion);
      appendLine(out, "DELETED", render(gone));
    }
  }
}

void WatchStream::appendLine(std::string& out, const char* type, const std::string& objectJson) {
  out += "{\"type\":\"";
  out += type;
  out += "\",\"object\":";
  out += objectJson;
  out += "}\n";
}

std::string WatchStream::render(const Json& object) {
  const ResourceType& type = *watcher_->type;
  switch (settings_.representation.kind) {
    case Representation::Kind::Object:
      if (watcher_->version == type.storageVersion) return object.dump();
      return inVersion(type, watcher_->version, object).dump();
    case Representation::Kind::Metadata:
      return partialMetadata(object, settings_.representation.metadataVersion).dump();
    case Representation::Kind::Table: {
      TableRequest req = settings_.representation.table;
      req.columnDefinitions = firstTable_;  // later events reuse the first event's columns
      firstTable_ = false;
      return makeTable(type, watcher_->version, {inVersion(type, watcher_->version, object)}, req,
                       std::chrono::system_clock::now())
          .dump();
    }
  }
  return object.dump();
}

std::string WatchStream::bookmark(uint64_t resourceVersion, bool initialEventsEnd) {
  const ResourceType& type = *watcher_->type;
  Json meta{{"resourceVersion", std::to_string(resourceVersion)}};
  if (initialEventsEnd) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  Json obj{{"kind", type.kind}, {"apiVersion", type.apiVersion(watcher_->version)}, {"metadata", meta}};
  std::string out;
  appendLine(out, "BOOKMARK", obj.dump());
  return out;
}

}  // namespace tributary::apiserver
