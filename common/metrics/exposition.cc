#include "common/metrics/exposition.h"

#include <prometheus/text_serializer.h>

namespace tributary {

std::string renderMetrics(const std::vector<std::shared_ptr<prometheus::Collectable>>& sources) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& s : sources) {
    auto f = s->Collect();
    families.insert(families.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tributary
