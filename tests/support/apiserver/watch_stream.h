#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>

#include "tests/support/apiserver/object_store.h"
#include "tests/support/apiserver/representation.h"

namespace tributary::apiserver {

// One watch response: newline-delimited JSON events
// ({"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}) written as
// HTTP chunks while the connection lasts. Runs on the httplib worker thread
// that serves the request (a watch holds its worker for its lifetime).
//
// Selectors are applied per event as the real watch cache does: an object
// that starts matching arrives as ADDED, one that stops matching as DELETED.
class WatchStream {
 public:
  struct Settings {
    bool bookmarks = false;
    std::chrono::milliseconds bookmarkInterval{60'000};
    std::chrono::steady_clock::time_point deadline;  // timeoutSeconds, capped by the server
    Representation representation;
  };

  WatchStream(ObjectStore& store, std::shared_ptr<Watcher> watcher, Settings settings);
  ~WatchStream();

  // httplib's chunked content provider: waits (bounded) for events, writes
  // them; ends the response at the deadline, on dropWatches/stop, after an ERROR.
  bool pump(httplib::DataSink& sink);
  // Stops delivering to this stream (the response is gone).
  void release();

 private:
  bool pumpOnce(httplib::DataSink& sink);
  void append(std::string& out, const Event& e);
  void appendLine(std::string& out, const char* type, const std::string& objectJson);
  std::string render(const nlohmann::json& object);
  std::string bookmark(uint64_t resourceVersion, bool initialEventsEnd);

  ObjectStore& store_;
  std::shared_ptr<Watcher> watcher_;
  Settings settings_;
  std::chrono::steady_clock::time_point nextBookmark_;
  bool firstTable_ = true;
  bool finished_ = false;
  bool released_ = false;
};

}  // namespace tributary::apiserver
