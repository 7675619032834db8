#include "operator/runtime/conditions.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "operator/runtime/errors.h"

namespace tributary::op::runtime {

namespace {

// metav1.Condition's reason pattern: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ ;
// we ask for CamelCase, so it must also start with an upper-case letter.
bool isCamelCaseReason(const std::string& reason) {
  if (reason.empty() || !std::isupper(static_cast<unsigned char>(reason.front()))) return false;
  for (char c : reason) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

nlohmann::json normalizedStatus(const nlohmann::json& status) {
  if (status.is_null()) return nlohmann::json::object();
  nlohmann::json copy = status;
  if (copy.is_object()) {
    auto conditions = copy.find("conditions");
    if (conditions != copy.end() && conditions->is_array()) {
      std::stable_sort(conditions->begin(), conditions->end(), [](const nlohmann::json& a, const nlohmann::json& b) {
        const std::string ta = a.is_object() ? a.value("type", "") : "";
        const std::string tb = b.is_object() ? b.value("type", "") : "";
        return ta < tb;
      });
    }
  }
  return copy;
}

}  // namespace

std::string formatRfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::seconds>(time));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

bool setCondition(nlohmann::json& status, const Condition& condition, std::chrono::system_clock::time_point now) {
  if (condition.type.empty()) throw ControllerRuntimeError("condition type must not be empty");
  if (condition.status != "True" && condition.status != "False" && condition.status != "Unknown") {
    throw ControllerRuntimeError("condition " + condition.type + ": status must be True, False or Unknown, got '" +
                                 condition.status + "'");
  }
  if (!isCamelCaseReason(condition.reason)) {
    throw ControllerRuntimeError("condition " + condition.type + ": reason must be CamelCase, got '" +
                                 condition.reason + "'");
  }
  if (!status.is_object()) status = nlohmann::json::object();
  auto& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = nlohmann::json::array();

  nlohmann::json* existing = nullptr;
  for (auto& c : conditions) {
    if (c.is_object() && c.value("type", "") == condition.type) {
      existing = &c;
      break;
    }
  }

  std::string transition = formatRfc3339(now);
  if (existing && existing->value("status", "") == condition.status) {
    const auto kept = existing->find("lastTransitionTime");
    if (kept != existing->end() && kept->is_string()) transition = kept->get<std::string>();
  }
  nlohmann::json wanted = {
      {"type", condition.type},
      {"status", condition.status},
      {"reason", condition.reason},
      {"message", condition.message},
      {"observedGeneration", condition.observedGeneration},
      {"lastTransitionTime", transition},
  };
  if (existing) {
    if (*existing == wanted) return false;
    *existing = std::move(wanted);
  } else {
    conditions.push_back(std::move(wanted));
  }
  return true;
}

std::optional<Condition> findCondition(const nlohmann::json& status, std::string_view type) {
  if (!status.is_object()) return std::nullopt;
  auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return std::nullopt;
  for (const auto& c : *conditions) {
    if (!c.is_object()) continue;
    auto t = c.find("type");
    if (t == c.end() || !t->is_string() || t->get<std::string>() != type) continue;
    auto text = [&](const char* field) {
      auto it = c.find(field);
      return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Condition found;
    found.type = std::string(type);
    found.status = text("status");
    found.reason = text("reason");
    found.message = text("message");
    found.lastTransitionTime = text("lastTransitionTime");
    auto generation = c.find("observedGeneration");
    if (generation != c.end() && generation->is_number_integer()) found.observedGeneration = generation->get<std::int64_t>();
    return found;
  }
  return std::nullopt;
}

bool statusChanged(const nlohmann::json& oldStatus, const nlohmann::json& newStatus) {
  return normalizedStatus(oldStatus) != normalizedStatus(newStatus);
}

}  // namespace tributary::op::runtime
