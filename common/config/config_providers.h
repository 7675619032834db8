#pragma once
// Kafka's config-provider references in client properties, so that secrets come
// from mounted Secrets and the environment instead of sitting in a ConfigMap:
//
//   ${file:/path}       the whole file, trailing CR/LF trimmed
//   ${file:/path:key}   the value of `key` in the Java-properties file /path
//                       (what Kafka's FileConfigProvider reads)
//   ${env:NAME}         the environment variable NAME
//
// A reference may stand alone or inside a longer value, several per value, as
// Kafka's ConfigTransformer replaces them. The path ends at the first ':' after
// `file:` (Kafka's pattern), so a key may contain ':' but a path may not.
// `${` not followed by `name:...}` is left as it is; `${name:...}` with a
// provider other than file or env is an error (a typo must not reach the broker
// as a literal).
//
// Errors name the property and the path or variable, never a value. Used by the
// sidecar (kafka.properties, at start-up) and the operator (clusters.*.properties,
// at start-up and again whenever a referenced file changes).
//
// Pure functions; any thread.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tributary {

// Where references are looked up. The system one reads files and getenv();
// tests substitute their own.
class ConfigProviderSource {
 public:
  virtual ~ConfigProviderSource() = default;
  // The file's bytes, or nullopt with `why` set (strerror text; never contents).
  virtual std::optional<std::string> readFile(const std::string& path, std::string& why) const = 0;
  virtual std::optional<std::string> environment(const std::string& name) const = 0;
};
const ConfigProviderSource& systemConfigProviderSource();

struct ResolvedProperties {
  std::map<std::string, std::string> properties;  // references replaced (set even when errors is not empty)
  std::vector<std::string> errors;                // "<prefix>.<name>: ${file:/x}: cannot read /x: ..."
  std::set<std::string> files;                    // every file a reference named (for reloading)
  std::set<std::string> fromProviders;            // properties whose value came, in part, from a reference
};

// Replaces every reference in `properties`. Error messages name keys as
// `<keyPrefix>.<name>`.
ResolvedProperties resolveConfigReferences(const std::map<std::string, std::string>& properties,
                                           std::string_view keyPrefix,
                                           const ConfigProviderSource& source = systemConfigProviderSource());

// The syntax only, nothing read: for a config checked in one process and used
// in another (the operator checks the sidecar's default config, whose files
// live in the pod).
std::vector<std::string> checkConfigReferences(const std::map<std::string, std::string>& properties,
                                               std::string_view keyPrefix);

// True when `value` holds a `${file:` or `${env:` reference.
bool hasConfigReference(std::string_view value);

// librdkafka properties that carry secrets (passwords, private keys, OAuth
// client secrets, the OAUTHBEARER config): never shown in a message.
bool isSecretProperty(std::string_view name);

// `message` with every occurrence of the secret values among `properties`
// (secret-bearing, or from a reference) replaced by "[redacted]". For texts
// that may echo a value, such as librdkafka's "Invalid value ..." errors.
std::string redactSecrets(std::string message, const std::map<std::string, std::string>& properties,
                          const std::set<std::string>& fromProviders);

// Parses Java-properties text (java.util.Properties.load: `#`/`!` comments,
// `=`, `:` or whitespace separators, backslash continuations and escapes,
// \uXXXX as UTF-8); a later key wins.
std::map<std::string, std::string> parseJavaProperties(std::string_view text);

// What a referenced file looked like (inode, size, mtime): a change of any
// means it was rewritten or, as Kubernetes updates a mounted Secret, its
// symlink swapped. nullopt when stat fails.
struct FileFingerprint {
  uint64_t inode = 0;
  int64_t size = -1;
  int64_t mtimeNs = 0;
  bool operator==(const FileFingerprint& o) const {
    return inode == o.inode && size == o.size && mtimeNs == o.mtimeNs;
  }
};
std::optional<FileFingerprint> fingerprint(const std::string& path);

}  // namespace tributary
