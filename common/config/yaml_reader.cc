#include "common/config/yaml_reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace tributary {

// libstdc++'s filebuf throws on a read error such as EISDIR: caught here.
std::optional<std::string> readWholeFile(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  try {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      why = "read error";
      return std::nullopt;
    }
    return text;
  } catch (const std::exception&) {
    why = std::strerror(errno);
    return std::nullopt;
  }
}

}  // namespace tributary
