#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tributary::log {

enum class Level { Debug, Info, Warn, Error };

// One JSON object per line on stderr ({"ts","level","msg",...fields}), the shape
// Kubernetes log pipelines index without parsing rules. Callable from any thread.
// Never pass secrets as fields: nothing here redacts.
using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

void setLevel(Level level);
void write(Level level, std::string_view msg, Fields fields = {});

inline void debug(std::string_view msg, Fields f = {}) { write(Level::Debug, msg, f); }
inline void info(std::string_view msg, Fields f = {}) { write(Level::Info, msg, f); }
inline void warn(std::string_view msg, Fields f = {}) { write(Level::Warn, msg, f); }
inline void error(std::string_view msg, Fields f = {}) { write(Level::Error, msg, f); }

}  // namespace tributary::log
