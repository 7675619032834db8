#include "common/config/config_providers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tributary {
namespace {

class SystemSource final : public ConfigProviderSource {
 public:
  std::optional<std::string> readFile(const std::string& path, std::string& why) const override {
    // POSIX rather than ifstream: a directory opens fine as a stream and only
    // fails (or throws) on the read; here it is named for what it is.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      why = std::strerror(errno);
      return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      why = std::strerror(EISDIR);
      return std::nullopt;
    }
    std::string out;
    char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        why = std::strerror(errno);
        ::close(fd);
        return std::nullopt;
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  std::optional<std::string> environment(const std::string& name) const override {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }
};

bool validProviderName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

// One `${provider:rest}` in a value.
struct Reference {
  size_t begin = 0, end = 0;  // [begin, end) in the value, `${` to `}` included
  std::string provider, rest;
  std::string text() const { return "${" + provider + ":" + rest + "}"; }
};

// Every reference-shaped `${name:...}` of `value`, in order; other `${` are text.
std::vector<Reference> findReferences(std::string_view value) {
  std::vector<Reference> out;
  size_t at = 0;
  while ((at = value.find("${", at)) != std::string_view::npos) {
    const size_t close = value.find('}', at + 2);
    if (close == std::string_view::npos) break;
    const std::string_view inside = value.substr(at + 2, close - at - 2);
    const size_t colon = inside.find(':');
    if (colon == std::string_view::npos || !validProviderName(inside.substr(0, colon))) {
      at += 2;
      continue;
    }
    out.push_back({at, close + 1, std::string(inside.substr(0, colon)), std::string(inside.substr(colon + 1))});
    at = close + 1;
  }
  return out;
}

// The syntax of one reference: "" when fine, else what is wrong.
std::string syntaxError(const Reference& r) {
  if (r.provider == "file") {
    const std::string path = r.rest.substr(0, r.rest.find(':'));
    if (path.empty()) return "names no file; write ${file:/path} or ${file:/path:key}";
    if (r.rest.find(':') != std::string::npos && r.rest.substr(r.rest.find(':') + 1).empty())
      return "names no key after the path; write ${file:" + path + "} for the whole file";
    return "";
  }
  if (r.provider == "env") {
    if (r.rest.empty()) return "names no variable; write ${env:NAME}";
    return "";
  }
  return "unknown config provider \"" + r.provider + "\"; Tributary resolves ${file:/path}, ${file:/path:key} and ${env:NAME}";
}

void trimTrailingNewlines(std::string& s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
}

void appendUtf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

const ConfigProviderSource& systemConfigProviderSource() {
  static const SystemSource source;
  return source;
}

bool hasConfigReference(std::string_view value) {
  for (const auto& r : findReferences(value))
    if (r.provider == "file" || r.provider == "env") return true;
  return false;
}

std::vector<std::string> checkConfigReferences(const std::map<std::string, std::string>& properties,
                                               std::string_view keyPrefix) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : properties)
    for (const auto& r : findReferences(value))
      if (auto why = syntaxError(r); !why.empty())
        errors.push_back(std::string(keyPrefix) + "." + name + ": " + r.text() + ": " + why);
  return errors;
}

ResolvedProperties resolveConfigReferences(const std::map<std::string, std::string>& properties,
                                           std::string_view keyPrefix, const ConfigProviderSource& source) {
  ResolvedProperties out;
  // One read per file, however many properties name it.
  std::map<std::string, std::pair<std::optional<std::string>, std::string>> files;
  auto read = [&](const std::string& path) -> const std::pair<std::optional<std::string>, std::string>& {
    auto it = files.find(path);
    if (it == files.end()) {
      std::string why;
      auto text = source.readFile(path, why);
      it = files.emplace(path, std::make_pair(std::move(text), why)).first;
    }
    return it->second;
  };
  for (const auto& [name, value] : properties) {
    const auto refs = findReferences(value);
    if (refs.empty()) {
      out.properties[name] = value;
      continue;
    }
    const std::string where = std::string(keyPrefix) + "." + name;
    std::string resolved;
    size_t copied = 0;
    bool ok = true;
    for (const auto& r : refs) {
      resolved.append(value, copied, r.begin - copied);
      copied = r.end;
      if (auto why = syntaxError(r); !why.empty()) {
        out.errors.push_back(where + ": " + r.text() + ": " + why);
        ok = false;
        continue;
      }
      if (r.provider == "env") {
        auto v = source.environment(r.rest);
        if (!v) {
          out.errors.push_back(where + ": " + r.text() + ": the environment variable " + r.rest +
                               " is not set (in Kubernetes: env or envFrom of the container, e.g. a secretKeyRef)");
          ok = false;
          continue;
        }
        resolved += *v;
        continue;
      }
      const size_t colon = r.rest.find(':');
      const std::string path = r.rest.substr(0, colon);
      out.files.insert(path);
      const auto& [text, why] = read(path);
      if (!text) {
        out.errors.push_back(where + ": " + r.text() + ": cannot read " + path + ": " + why +
                             " (is the Secret mounted there, and readable by the container's user?)");
        ok = false;
        continue;
      }
      if (colon == std::string::npos) {
        std::string whole = *text;
        trimTrailingNewlines(whole);
        resolved += whole;
        continue;
      }
      const std::string key = r.rest.substr(colon + 1);
      const auto props = parseJavaProperties(*text);
      auto it = props.find(key);
      if (it == props.end()) {
        std::string keys;
        for (const auto& kv : props) keys += (keys.empty() ? "" : ", ") + kv.first;
        out.errors.push_back(where + ": " + r.text() + ": " + path + " has no key \"" + key + "\" (keys there: " +
                             (keys.empty() ? "none" : keys) + ")");
        ok = false;
        continue;
      }
      resolved += it->second;
    }
    resolved.append(value, copied, std::string::npos);
    out.fromProviders.insert(name);
    // A property that failed keeps its reference text, never a partial value.
    out.properties[name] = ok ? resolved : value;
  }
  return out;
}

bool isSecretProperty(std::string_view name) {
  static const std::set<std::string_view> kSecret = {
      "sasl.password",          "ssl.key.password",        "ssl.key.pem",
      "ssl.keystore.password",  "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config",
      "ssl_key",
  };
  return kSecret.count(name) > 0;
}

std::string redactSecrets(std::string message, const std::map<std::string, std::string>& properties,
                          const std::set<std::string>& fromProviders) {
  for (const auto& [name, value] : properties) {
    const bool secret = isSecretProperty(name);
    // Values from a reference may be secrets too; very short ones would blank
    // out ordinary words and are left alone unless the property is a secret.
    if (value.empty() || (!secret && (!fromProviders.count(name) || value.size() < 4))) continue;
    for (size_t at = 0; (at = message.find(value, at)) != std::string::npos;) {
      message.replace(at, value.size(), "[redacted]");
      at += 10;
    }
  }
  return message;
}

std::map<std::string, std::string> parseJavaProperties(std::string_view text) {
  std::map<std::string, std::string> out;
  auto isWs = [](char c) { return c == ' ' || c == '\t' || c == '\f'; };
  // The natural line starting at `pos`; `pos` moves past its terminator (\n, \r or \r\n).
  auto naturalLine = [&](size_t& pos) {
    size_t e = text.find_first_of("\r\n", pos);
    if (e == std::string_view::npos) e = text.size();
    std::string_view line = text.substr(pos, e - pos);
    pos = e;
    if (pos < text.size() && text[pos] == '\r') ++pos;
    if (pos < text.size() && text[pos] == '\n' && (pos == e || text[pos - 1] == '\r')) ++pos;
    return line;
  };
  auto endsContinued = [](const std::string& s) {
    size_t n = 0;
    for (size_t k = s.size(); k > 0 && s[k - 1] == '\\'; --k) ++n;
    return n % 2 == 1;
  };
  auto unescape = [](std::string_view s) {
    std::string r;
    for (size_t j = 0; j < s.size(); ++j) {
      if (s[j] != '\\') {
        r += s[j];
        continue;
      }
      if (j + 1 >= s.size()) break;  // a lone trailing backslash is dropped, as Java does
      const char e = s[++j];
      switch (e) {
        case 't': r += '\t'; break;
        case 'n': r += '\n'; break;
        case 'r': r += '\r'; break;
        case 'f': r += '\f'; break;
        case 'u': {
          unsigned cp = 0;
          bool good = j + 4 < s.size();
          for (size_t h = 1; good && h <= 4; ++h) {
            const char x = s[j + h];
            cp <<= 4;
            if (x >= '0' && x <= '9') cp |= static_cast<unsigned>(x - '0');
            else if (x >= 'a' && x <= 'f') cp |= static_cast<unsigned>(x - 'a' + 10);
            else if (x >= 'A' && x <= 'F') cp |= static_cast<unsigned>(x - 'A' + 10);
            else good = false;
          }
          if (good) {
            appendUtf8(r, cp);
            j += 4;
          } else {
            r += 'u';
          }
          break;
        }
        default: r += e;
      }
    }
    return r;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    std::string_view line = naturalLine(pos);
    size_t i = 0;
    while (i < line.size() && isWs(line[i])) ++i;
    if (i == line.size() || line[i] == '#' || line[i] == '!') continue;
    // The logical line: a line ending in an odd number of backslashes continues
    // on the next one, whose leading whitespace is dropped.
    std::string logical(line.substr(i));
    while (endsContinued(logical)) {
      logical.pop_back();
      if (pos >= text.size()) break;
      std::string_view next = naturalLine(pos);
      size_t k = 0;
      while (k < next.size() && isWs(next[k])) ++k;
      logical.append(next.substr(k));
    }
    // The key ends at an unescaped '=', ':' or whitespace.
    size_t k = 0;
    while (k < logical.size()) {
      const char c = logical[k];
      if (c == '\\' && k + 1 < logical.size()) {
        k += 2;
        continue;
      }
      if (c == '=' || c == ':' || isWs(c)) break;
      ++k;
    }
    const std::string_view rawKey = std::string_view(logical).substr(0, k);
    while (k < logical.size() && isWs(logical[k])) ++k;
    if (k < logical.size() && (logical[k] == '=' || logical[k] == ':')) ++k;
    while (k < logical.size() && isWs(logical[k])) ++k;
    out[unescape(rawKey)] = unescape(std::string_view(logical).substr(k));
  }
  return out;
}

std::optional<FileFingerprint> fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileFingerprint{static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
                         static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace tributary
