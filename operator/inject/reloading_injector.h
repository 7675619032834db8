#pragma once
// The injector with the default sidecar config as it is on disk now: the
// file (--sidecar-config, a mounted ConfigMap the kubelet refreshes) is read
// again when its inode, size or mtime changed. A changed file that the sidecar
// would refuse is logged and ignored: pods keep getting the last good one.
#include <memory>
#include <mutex>
#include <string>

#include <sys/types.h>

#include "operator/inject/sidecar_injector.h"

namespace tributary::op::inject {

// Threads: current() from any thread.
class ReloadingInjector {
 public:
  // `configPath` "" : no default config. Throws std::runtime_error (naming the
  // file and every problem) when the file cannot be read or is invalid.
  ReloadingInjector(InjectorSettings base, std::string configPath);
  std::shared_ptr<const SidecarInjector> current();

 private:
  struct FileState {
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtimeNs = 0;
    bool operator==(const FileState&) const = default;
  };
  bool stat(FileState& out) const;

  const InjectorSettings base_;
  const std::string path_;
  std::mutex mutex_;
  FileState seen_;                                   // guarded by mutex_
  std::shared_ptr<const SidecarInjector> injector_;  // guarded by mutex_
};

}  // namespace tributary::op::inject
