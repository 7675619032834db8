#include <gtest/gtest.h>

#include "sidecar/config/sidecar_config.h"

using namespace tributary::sidecar;

TEST(SidecarConfig, EmptyFileGivesTheDocumentedDefaults) {
  auto r = parseSidecarConfig("", {});
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_TRUE(r.config->embeddedKafka());
  EXPECT_EQ(r.config->api.listen.toString(), "127.0.0.1:9191");
  EXPECT_EQ(r.config->admin.listen.toString(), "0.0.0.0:9192");
  EXPECT_EQ(r.config->api.maxBodyBytes, 1048576u);
}
