#include "operator/kube/informer.h"

#include "common/log/log.h"

namespace tributary::op::kube {

using Clock = std::chrono::steady_clock;

namespace {
std::string resourceVersionOf(const Json& object) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  return object["metadata"].value("resourceVersion", "");
}
}  // namespace

void stripManagedFieldsAndLastApplied(Json& object) {
  if (!object.is_object()) return;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return;
  meta->erase("managedFields");
  auto annotations = meta->find("annotations");
  if (annotations != meta->end() && annotations->is_object()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    // An object whose only annotation was the last-applied one looks as if it never had any.
    if (annotations->empty()) meta->erase(annotations);
  }
}

Informer::Informer(KubeClient& client, ResourceRef resource, InformerOptions options, InformerHandlers handlers)
    : client_(client),
      resource_(std::move(resource)),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      currentBackoff_(options_.initialBackoff) {}

Informer::~Informer() { stop(); }

std::string Informer::keyOf(const Json& object) {
  const Json& meta = object.contains("metadata") ? object["metadata"] : Json::object();
  std::string ns = meta.value("namespace", "");
  std::string name = meta.value("name", "");
  return ns.empty() ? name : ns + "/" + name;
}

void Informer::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(stopMu_);
    stopping_ = true;
  }
  stopCv_.notify_all();
  {
    std::lock_guard lock(mu_);
    if (stream_ != nullptr) stream_->cancel();
  }
  if (thread_.joinable()) thread_.join();
}

std::optional<Json> Informer::get(const std::string& key) const {
  std::string text;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(key);
    if (it == store_.end()) return std::nullopt;
    text = it->second;
  }
  return Json::parse(text);
}

std::vector<Json> Informer::list() const {
  std::vector<std::string> texts;
  {
    std::lock_guard lock(mu_);
    texts.reserve(store_.size());
    for (const auto& [key, text] : store_) texts.push_back(text);
  }
  std::vector<Json> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(Json::parse(t));
  return out;
}

std::vector<std::string> Informer::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(store_.size());
  for (const auto& [key, text] : store_) out.push_back(key);
  return out;
}

std::string Informer::lastResourceVersion() const {
  std::lock_guard lock(mu_);
  return resourceVersion_;
}

void Informer::backoff() {
  std::unique_lock lock(stopMu_);
  stopCv_.wait_for(lock, currentBackoff_, [this] { return stopping_.load(); });
  currentBackoff_ = std::min(currentBackoff_ * 2, options_.maxBackoff);
}

void Informer::run() {
  nextResync_ = Clock::now() + options_.resyncPeriod;
  bool needList = true;
  while (!stopping_) {
    if (needList) {
      if (!relist()) {
        backoff();
        continue;
      }
      needList = false;
    }
    needList = watchOnce();
  }
}

bool Informer::relist() {
  // Page by page, each page turned into compact text at once, so that a large
  // collection never sits in memory as parsed JSON all at the same time.
  std::map<std::string, std::string> fresh;
  std::string listResourceVersion;
  try {
    ListOptions opts;
    opts.labelSelector = options_.labelSelector;
    opts.limit = options_.pageSize;
    for (bool first = true;; first = false) {
      ListResult page = client_.list(resource_, options_.ns, opts);
      if (first) listResourceVersion = page.resourceVersion;
      for (auto& item : page.items) {
        if (options_.transform) options_.transform(item);
        fresh.emplace(keyOf(item), item.dump());
      }
      if (page.continueToken.empty()) break;
      // A continue token carries the snapshot; a resourceVersion alongside it is an error.
      opts.continueToken = page.continueToken;
      opts.resourceVersion.clear();
    }
  } catch (const ApiError& e) {
    log::warn("informer: list failed, retrying with backoff",
              {{"resource", resource_.displayName()}, {"error", e.what()}, {"backoffMs", std::to_string(currentBackoff_.count())}});
    return false;
  }
  // Deliver the difference between what we had and the new state, as
  // client-go's Replace does: a relist after 410 looks to handlers like the
  // events they missed. Unchanged objects (same text) are re-delivered as
  // updates too (old == new), as a resync would.
  std::map<std::string, std::string> previous;
  {
    std::lock_guard lock(mu_);
    previous.swap(store_);
    store_ = fresh;
    resourceVersion_ = listResourceVersion;
  }
  for (const auto& [key, text] : fresh) {
    Json now = Json::parse(text);
    auto it = previous.find(key);
    if (it == previous.end()) {
      if (handlers_.onAdd) handlers_.onAdd(now);
    } else {
      if (handlers_.onUpdate) handlers_.onUpdate(Json::parse(it->second), now);
      previous.erase(it);
    }
  }
  for (const auto& [key, text] : previous)
    if (handlers_.onDelete) handlers_.onDelete(Json::parse(text));
  synced_ = true;
  currentBackoff_ = options_.initialBackoff;
  return true;
}

std::chrono::milliseconds Informer::untilResync() const {
  if (options_.resyncPeriod.count() <= 0) return std::chrono::milliseconds(1000);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(nextResync_ - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
}

bool Informer::watchOnce() {
  std::unique_ptr<WatchStream> stream;
  WatchOptions opts;
  opts.resourceVersion = lastResourceVersion();
  opts.allowWatchBookmarks = true;
  opts.labelSelector = options_.labelSelector;
  opts.timeoutSeconds = options_.watchTimeoutSeconds;
  try {
    stream = client_.watch(resource_, options_.ns, opts);
  } catch (const ApiError& e) {
    if (isGone(e)) {
      log::info("informer: resourceVersion too old, relisting", {{"resource", resource_.displayName()}});
      return true;
    }
    log::warn("informer: watch failed, retrying with backoff",
              {{"resource", resource_.displayName()}, {"error", e.what()}, {"backoffMs", std::to_string(currentBackoff_.count())}});
    backoff();
    // Unreachable or throttled: the state we hold is as good as any, re-watch.
    // Any other error answer: start over from a fresh list. Both as client-go's reflector.
    return e.kind() != ApiError::Kind::Unavailable && e.kind() != ApiError::Kind::TooManyRequests;
  }
  {
    std::lock_guard lock(mu_);
    stream_ = stream.get();
  }
  if (stopping_) stream->cancel();  // stop() may have run before stream_ was published
  bool relistNeeded = false;
  try {
    while (!stopping_) {
      WatchEvent event;
      auto status = stream->next(untilResync(), event);
      if (options_.resyncPeriod.count() > 0 && Clock::now() >= nextResync_) {
        resync();
        nextResync_ = Clock::now() + options_.resyncPeriod;
      }
      if (status == WatchStream::Status::Ended) break;
      if (status == WatchStream::Status::Timeout) continue;
      if (event.type == WatchEvent::Type::Error) {
        int code = event.object.is_object() ? event.object.value("code", 0) : 0;
        log::info("informer: watch ERROR event",
                  {{"resource", resource_.displayName()}, {"code", std::to_string(code)},
                   {"message", event.object.is_object() ? event.object.value("message", "") : ""}});
        // 410: our resourceVersion is compacted, relist now. Anything else:
        // relist too, after a backoff so a failing server is not hammered.
        if (code != 410) backoff();
        relistNeeded = true;
        break;
      }
      currentBackoff_ = options_.initialBackoff;
      apply(event);
    }
  } catch (const ApiError& e) {
    log::warn("informer: watch stream failed", {{"resource", resource_.displayName()}, {"error", e.what()}});
    if (!isGone(e)) backoff();
    relistNeeded = true;
  }
  {
    std::lock_guard lock(mu_);
    stream_ = nullptr;
  }
  return relistNeeded;
}

void Informer::apply(WatchEvent& event) {
  std::string rv = resourceVersionOf(event.object);
  if (event.type == WatchEvent::Type::Bookmark) {
    std::lock_guard lock(mu_);
    if (!rv.empty()) resourceVersion_ = rv;
    return;
  }
  if (options_.transform) options_.transform(event.object);
  std::string key = keyOf(event.object);
  std::optional<std::string> old;
  {
    std::string text = event.type == WatchEvent::Type::Deleted ? std::string() : event.object.dump();
    std::lock_guard lock(mu_);
    auto it = store_.find(key);
    if (it != store_.end()) old = std::move(it->second);
    if (event.type == WatchEvent::Type::Deleted)
      store_.erase(key);
    else
      store_[key] = std::move(text);
    if (!rv.empty()) resourceVersion_ = rv;
  }
  if (event.type == WatchEvent::Type::Deleted) {
    if (handlers_.onDelete) handlers_.onDelete(event.object);
  } else if (old) {
    if (handlers_.onUpdate) handlers_.onUpdate(Json::parse(*old), event.object);
  } else {
    if (handlers_.onAdd) handlers_.onAdd(event.object);
  }
}

void Informer::resync() {
  if (!handlers_.onUpdate) return;
  // One object at a time: a resync never holds a copy of the whole store.
  for (const auto& key : keys())
    if (auto object = get(key)) handlers_.onUpdate(*object, *object);
}

}  // namespace tributary::op::kube
