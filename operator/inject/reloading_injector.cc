#include "operator/inject/reloading_injector.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>

#include "common/log/log.h"
#include "operator/inject/sidecar_config_check.h"

namespace tributary::op::inject {
namespace {

std::optional<std::string> readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return text;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e;
  return out;
}

}  // namespace

ReloadingInjector::ReloadingInjector(InjectorSettings base, std::string configPath)
    : base_(std::move(base)), path_(std::move(configPath)) {
  InjectorSettings settings = base_;
  if (!path_.empty()) {
    stat(seen_);
    auto text = readText(path_);
    if (!text) throw std::runtime_error("--sidecar-config: cannot read " + path_);
    if (auto errors = checkSidecarConfig(*text); !errors.empty())
      throw std::runtime_error("--sidecar-config " + path_ + ": invalid sidecar configuration: " + joined(errors));
    settings.defaultConfigYaml = *text;
  }
  injector_ = std::make_shared<const SidecarInjector>(settings);
}

bool ReloadingInjector::stat(FileState& out) const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  out = {st.st_ino, st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  return true;
}

std::shared_ptr<const SidecarInjector> ReloadingInjector::current() {
  std::lock_guard lock(mutex_);
  if (path_.empty()) return injector_;
  FileState now;
  if (!stat(now) || now == seen_) return injector_;
  seen_ = now;
  auto text = readText(path_);
  if (!text) {
    log::error("default sidecar config unreadable; keeping the previous one", {{"file", path_}});
    return injector_;
  }
  if (*text == injector_->settings().defaultConfigYaml) return injector_;
  if (auto errors = checkSidecarConfig(*text); !errors.empty()) {
    log::error("default sidecar config invalid; keeping the previous one",
               {{"file", path_}, {"errors", joined(errors)}});
    return injector_;
  }
  InjectorSettings settings = base_;
  settings.defaultConfigYaml = *text;
  injector_ = std::make_shared<const SidecarInjector>(settings);
  log::info("default sidecar config reloaded", {{"file", path_}});
  return injector_;
}

}  // namespace tributary::op::inject
