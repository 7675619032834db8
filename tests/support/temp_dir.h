#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace tributary::test {

// A private directory under $TMPDIR, removed with everything in it when the
// object goes (tests' config files, certificates, mounted-Secret stand-ins).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tributary-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes the file `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  // Writes beside and renames onto `name`: a new inode, as Kubernetes' symlink
  // swap gives a mounted Secret. Returns its path.
  std::string replace(const std::string& name, const std::string& content) const {
    const auto tmp = path_ / (name + ".tmp");
    std::ofstream(tmp, std::ios::binary) << content;
    std::filesystem::rename(tmp, path_ / name);
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace tributary::test
