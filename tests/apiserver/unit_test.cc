// The test API server's pure parts: JSONPath, selectors, ages, version
// priority, schemas.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/apiserver/api_error.h"
#include "tests/support/apiserver/json_path.h"
#include "tests/support/apiserver/resource_registry.h"
#include "tests/support/apiserver/schema.h"
#include "tests/support/apiserver/selectors.h"
#include "tests/support/apiserver/timestamps.h"

namespace tributary::apiserver {
namespace {

using Json = nlohmann::json;

TEST(JsonPath, PrinterColumnForms) {
  Json obj = Json::parse(R"({"spec":{"topicName":"orders","partitions":6,"config":{"a.b":"c"}},
    "status":{"conditions":[{"type":"Synced","status":"False"},{"type":"Ready","status":"True"}]}})");
  auto eval = [&](const std::string& path) { return evaluateJsonPath(path, obj); };
  EXPECT_EQ(*eval(".spec.topicName"), (std::vector<Json>{"orders"}));
  EXPECT_EQ(*eval("{.spec.partitions}"), (std::vector<Json>{6}));
  EXPECT_EQ(*eval(R"(.status.conditions[?(@.type=="Ready")].status)"), (std::vector<Json>{"True"}));
  EXPECT_EQ(*eval(R"(.status.conditions[?(@.type=='Synced')].status)"), (std::vector<Json>{"False"}));
  EXPECT_EQ(*eval(R"(.status.conditions[?(@.type!="Ready")].type)"), (std::vector<Json>{"Synced"}));
  EXPECT_EQ(*eval(".status.conditions[1].type"), (std::vector<Json>{"Ready"}));
  EXPECT_EQ(*eval(".status.conditions[-1].type"), (std::vector<Json>{"Ready"}));
  EXPECT_EQ(*eval(".status.conditions[*].type"), (std::vector<Json>{"Synced", "Ready"}));
  EXPECT_EQ(*eval(".spec.config['a.b']"), (std::vector<Json>{"c"}));
  EXPECT_TRUE(eval(".spec.missing")->empty());
  EXPECT_TRUE(eval(R"(.status.conditions[?(@.type=="Gone")].status)")->empty());
  EXPECT_FALSE(eval(".spec..x"));
  EXPECT_FALSE(eval(".spec[oops"));
}

TEST(LabelSelector, ParsesAndMatches) {
  Json obj{{"metadata", {{"labels", {{"app", "web"}, {"tier", "front"}, {"n", "5"}}}}}};
  auto m = [&](const std::string& s) { return LabelSelector::parse(s).matches(obj); };
  EXPECT_TRUE(m(""));
  EXPECT_TRUE(m("app=web"));
  EXPECT_TRUE(m(" app == web , tier "));
  EXPECT_FALSE(m("app=api"));
  EXPECT_TRUE(m("app!=api"));
  EXPECT_TRUE(m("missing!=x"));
  EXPECT_TRUE(m("!missing"));
  EXPECT_FALSE(m("!app"));
  EXPECT_TRUE(m("app in (api,web)"));
  EXPECT_FALSE(m("app notin (api,web)"));
  EXPECT_TRUE(m("missing notin (x)"));
  EXPECT_TRUE(m("n>4"));
  EXPECT_FALSE(m("n<5"));
  EXPECT_TRUE(m("example.com/team!=x"));
  for (const char* bad : {"app in (a", "a=b c", "=x", "app in (a b)", "a>b", "-bad=x", ","}) {
    try {
      LabelSelector::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.code, 400) << bad;
    }
  }
}

TEST(FieldSelector, SupportedFieldsOnly) {
  Json obj{{"metadata", {{"name", "a,b"}, {"namespace", "ns"}}}, {"involvedObject", {{"name", "x"}}}};
  EXPECT_TRUE(FieldSelector::parse("metadata.name=a\\,b", {}).matches(obj));
  EXPECT_TRUE(FieldSelector::parse("metadata.namespace==ns,metadata.name!=x", {}).matches(obj));
  EXPECT_TRUE(FieldSelector::parse("involvedObject.name=x", {"involvedObject.name"}).matches(obj));
  EXPECT_FALSE(FieldSelector::parse("involvedObject.uid=x", {"involvedObject.uid"}).matches(obj));
  EXPECT_THROW(FieldSelector::parse("spec.x=1", {}), ApiError);
  EXPECT_THROW(FieldSelector::parse("metadata.name", {}), ApiError);
}

TEST(Timestamps, HumanDurationsAsKubectlShowsThem) {
  using std::chrono::seconds;
  EXPECT_EQ(humanDuration(seconds(-5)), "<invalid>");
  EXPECT_EQ(humanDuration(seconds(-1)), "0s");
  EXPECT_EQ(humanDuration(seconds(0)), "0s");
  EXPECT_EQ(humanDuration(seconds(119)), "119s");
  EXPECT_EQ(humanDuration(seconds(125)), "2m5s");
  EXPECT_EQ(humanDuration(seconds(600)), "10m");
  EXPECT_EQ(humanDuration(seconds(3 * 3600 + 60)), "3h1m");
  EXPECT_EQ(humanDuration(seconds(10 * 3600)), "10h");
  EXPECT_EQ(humanDuration(seconds(3 * 86400 + 7200)), "3d2h");
  EXPECT_EQ(humanDuration(seconds(100 * 86400)), "100d");
  EXPECT_EQ(humanDuration(seconds(3LL * 365 * 86400)), "3y");
}

TEST(Timestamps, RoundTrip) {
  auto t = parseTimestamp("2024-05-01T10:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatTimestamp(*t), "2024-05-01T10:00:00Z");
  EXPECT_EQ(formatTimestamp(*parseTimestamp("2024-05-01T12:00:00.123456+02:00")), "2024-05-01T10:00:00Z");
  EXPECT_FALSE(parseTimestamp("yesterday"));
}

TEST(Versions, KubernetesPriorityOrder) {
  std::vector<std::string> v{"v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v2", "v1beta1", "bar", "v10"};
  std::sort(v.begin(), v.end(), versionHigherPriority);
  EXPECT_EQ(v, (std::vector<std::string>{"v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"}));
}

TEST(Schema, PrunesDefaultsAndValidates) {
  Json schema = Json::parse(R"({"type":"object","properties":{
    "spec":{"type":"object","required":["partitions"],"properties":{
      "partitions":{"type":"integer","minimum":1,"maximum":100},
      "policy":{"type":"string","enum":["Delete","Retain"],"default":"Retain"},
      "name":{"type":"string","pattern":"^[a-z.-]+$","maxLength":10},
      "port":{"x-kubernetes-int-or-string":true},
      "tags":{"type":"array","items":{"type":"string"},"maxItems":2},
      "extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}})");
  Json obj = Json::parse(R"({"apiVersion":"x/v1","kind":"X","metadata":{"name":"a","labels":{"k":"v"}},
    "spec":{"partitions":3,"unknown":1,"port":"http","extra":{"anything":{"goes":true}}},"junk":true})");
  EXPECT_TRUE(applySchema(schema, obj).empty());
  EXPECT_FALSE(obj.contains("junk"));
  EXPECT_FALSE(obj["spec"].contains("unknown"));
  EXPECT_EQ(obj["spec"]["policy"], "Retain");
  EXPECT_EQ(obj["spec"]["extra"]["anything"]["goes"], true);
  EXPECT_EQ(obj["metadata"]["labels"]["k"], "v");

  Json bad = Json::parse(R"({"spec":{"partitions":"3","policy":"Keep","name":"UPPER","port":1.5,"tags":["a","b",3]}})");
  auto causes = applySchema(schema, bad);
  std::map<std::string, std::string> byField;
  for (const auto& c : causes) byField[c.field] = c.message;
  EXPECT_EQ(byField["spec.partitions"], "Invalid value: \"string\": spec.partitions in body must be of type integer: \"string\"");
  EXPECT_EQ(byField["spec.policy"], "Unsupported value: \"Keep\": supported values: \"Delete\", \"Retain\"");
  EXPECT_EQ(byField["spec.name"], "Invalid value: \"UPPER\": spec.name in body should match '^[a-z.-]+$'");
  EXPECT_TRUE(byField.count("spec.port"));
  EXPECT_TRUE(byField.count("spec.tags"));
  EXPECT_TRUE(byField.count("spec.tags[2]"));

  Json missing = Json::parse(R"({"spec":{}})");
  auto req = applySchema(schema, missing);
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].field, "spec.partitions");
  EXPECT_EQ(req[0].type, "FieldValueRequired");
}

TEST(ApiErrors, InvalidMessageListsCauses) {
  auto one = invalid("tributary.dev", "KafkaTopic", "x", {{"FieldValueRequired", "spec.partitions", "Required value"}});
  EXPECT_STREQ(one.what(), "KafkaTopic.tributary.dev \"x\" is invalid: spec.partitions: Required value");
  auto two = invalid("", "ConfigMap", "x", {{"A", "a", "bad"}, {"B", "b", "worse"}});
  EXPECT_STREQ(two.what(), "ConfigMap \"x\" is invalid: [a: bad, b: worse]");
  EXPECT_EQ(two.status()["details"]["causes"].size(), 2u);
}

}  // namespace
}  // namespace tributary::apiserver
