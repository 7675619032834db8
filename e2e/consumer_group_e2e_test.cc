// KafkaConsumerGroup end to end with real processes: the test API server (in
// this process, real HTTP), the real kubectl and the real controller-mode
// command line of tributary-operator over the ClusterAdmin double
// (tributary-operator-fake-kafka, e2e/operator_with_fake_kafka.cc): the
// embedded mock cluster cannot serve this — librdkafka 2.0.2's mock has no
// DescribeGroups, and a DescribeGroups sent to it blocks librdkafka's main
// thread (seen here), so the operator's librdkafka admin is tested against
// the mock for what it serves (tests/operator/group/rdkafka_group_admin_test.cc)
// and against a real broker with TRIBUTARY_TEST_BOOTSTRAP.
// A user's path: apply the example group, records arrive, `kubectl get kcg`
// shows the lag; a reset by a new requestId waits while a consumer is in the
// group (GroupNotEmpty, an Event), is applied once it left, and never again
// for the same requestId.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/apiserver/api_client.h"
#include "tests/apiserver/command.h"
#include "tests/support/subprocess.h"

using namespace std::chrono_literals;
using tributary::apiserver::test::ApiClient;
using tributary::apiserver::test::eventually;
using tributary::apiserver::test::findOnPath;
using Json = nlohmann::json;

namespace {

const std::string kGroups = "/apis/tributary.dev/v1alpha1/namespaces/default/kafkaconsumergroups";

// What the group's consumers committed, as "Kafka" (the double) holds it.
Json committed(const std::string& stateFile, const std::string& group) {
  std::ifstream in(stateFile + ".groups.json");
  Json state = Json::parse(in, nullptr, false);
  return state.is_object() ? state.value(group, Json::object()) : Json::object();
}

class ConsumerGroupE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findOnPath("kubectl");
    if (!kubectl) GTEST_SKIP() << "kubectl is not on PATH; this scenario drives the real kubectl binary";
    kubectl_ = *kubectl;
    char tmpl[] = "/tmp/tributary-kcg-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    server = std::make_unique<tributary::apiserver::TestApiServer>();
    server->start();
    api = std::make_unique<ApiClient>(server->port());
    tributary::apiserver::test::writeKubeconfig(dir_ + "/kubeconfig", server->url());
    // A lag pass every second (the shortest interval the config accepts), so
    // the scenario does not wait the default 30 s.
    std::ofstream(dir_ + "/operator.yaml") << "consumerGroups:\n  lagInterval: 1s\n";
  }
  void TearDown() override {
    if (op) {
      op->signal(SIGTERM);
      op->wait(60s);
    }
    if (server) server->stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  tributary::apiserver::test::CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kubeconfig", dir_ + "/kubeconfig", "--cache-dir", dir_ + "/cache"});
    return tributary::apiserver::test::run(kubectl_, args, {{"HOME", dir_}}, 60s);
  }

  void startOperator() {
    setenv("TRIBUTARY_FAKE_KAFKA_STATE", state().c_str(), 1);
    setenv("TRIBUTARY_FAKE_KAFKA_CONTROL", (dir_ + "/control.json").c_str(), 1);
    op = std::make_unique<tributary::test::Subprocess>(
        tributary::test::binDir() + "/tributary-operator-fake-kafka",
        std::vector<std::string>{"--kubeconfig", dir_ + "/kubeconfig", "--config", dir_ + "/operator.yaml",
                                 "--bootstrap-servers", "fake:9092", "--leader-elect=false", "--metrics-bind-address",
                                 "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0",
                                 "--webhook-bind-address=0"});
    ASSERT_TRUE(op->waitForLine("operator started", 30s)) << op->output();
  }

  // What producers and consumers do to "Kafka": the commands are applied at
  // the operator's next admin call (the next lag pass, at most one lagInterval
  // away once a group exists); returns once they were.
  void kafka(const Json& commands) {
    const std::string path = dir_ + "/control.json";
    std::ofstream(path + ".tmp") << commands.dump();
    std::rename((path + ".tmp").c_str(), path.c_str());
    ASSERT_TRUE(eventually([&] { return !std::filesystem::exists(path); }, 60s)) << op->output();
  }
  std::string state() const { return dir_ + "/kafka.json"; }

  // The Events about an object, as `kubectl get events -o json` prints them.
  std::string eventsAbout(const std::string& name) {
    return kubectl({"get", "events", "--field-selector", "involvedObject.name=" + name, "-o", "json"}).out;
  }

  Json status(const std::string& name) { return api->get(kGroups + "/" + name).body.value("status", Json::object()); }

  std::string kubectl_, dir_;
  std::unique_ptr<tributary::apiserver::TestApiServer> server;
  std::unique_ptr<ApiClient> api;
  std::unique_ptr<tributary::test::Subprocess> op;
};

// The whitespace-separated fields of a `kubectl get --no-headers` line.
std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

Json condition(const Json& status, const std::string& type) {
  for (const auto& c : status.value("conditions", Json::array()))
    if (c.value("type", "") == type) return c;
  return Json::object();
}

TEST_F(ConsumerGroupE2E, KubectlGetKcgShowsTheLagAndANewRequestIdResetsTheGroupOnceItIsEmpty) {
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkaconsumergroups.tributary.dev", "--timeout=30s"})
                .exitCode,
            0);
  startOperator();
  auto apply = kubectl({"apply", "--validate=false", "-f",
                        std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/orders-consumers-group.yaml"});
  ASSERT_EQ(apply.exitCode, 0) << apply.err;
  // orders: 20 records on partition 0, 10 on 1; the example's group has read
  // orders-0 up to 15 and all of orders-1, and one consumer is running: lag 5.
  kafka({{{"op", "putTopic"}, {"topic", "orders"}, {"partitions", 2}},
         {{"op", "produce"}, {"topic", "orders"}, {"partition", 0}, {"count", 20}},
         {{"op", "produce"}, {"topic", "orders"}, {"partition", 1}, {"count", 10}},
         {{"op", "commit"}, {"group", "orders-service"}, {"topic", "orders"}, {"partition", 0}, {"offset", 15}},
         {{"op", "commit"}, {"group", "orders-service"}, {"topic", "orders"}, {"partition", 1}, {"offset", 10}},
         {{"op", "join"}, {"group", "orders-service"}, {"memberId", "m-1"}, {"clientId", "orders-7f9c"}}});

  ASSERT_TRUE(eventually([&] { return status("orders-consumers").value("totalLag", int64_t{-1}) == 5; }, 60s))
      << status("orders-consumers").dump() << "\n" << op->output();
  auto s = status("orders-consumers");
  ASSERT_EQ(s["topics"].size(), 1u) << s.dump();
  EXPECT_EQ(s["topics"][0]["topic"], "orders");
  EXPECT_EQ(s["topics"][0]["partitions"][0]["lag"], 5);
  // What the user reads: NAME GROUP STATE MEMBERS LAG READY AGE.
  auto get = kubectl({"get", "kcg", "orders-consumers", "--no-headers"});
  ASSERT_EQ(get.exitCode, 0) << get.err;
  EXPECT_EQ(fields(get.out), (std::vector<std::string>{"orders-consumers", "orders-service", "Stable", "1", "5", "True",
                                                        fields(get.out).back()}))
      << get.out;

  // More records arrive: the lag follows (a move of more than 10 % is written).
  kafka({{{"op", "produce"}, {"topic", "orders"}, {"partition", 1}, {"count", 15}}});
  ASSERT_TRUE(eventually([&] { return status("orders-consumers").value("totalLag", int64_t{-1}) == 20; }, 60s))
      << status("orders-consumers").dump();

  // Replay everything: a reset to earliest under a new requestId. It waits
  // while the consumer is running, saying why.
  auto patch = kubectl({"patch", "kcg", "orders-consumers", "--type=merge", "-p",
                        R"({"spec":{"offsetReset":{"requestId":"replay-1","to":"earliest"}}})"});
  ASSERT_EQ(patch.exitCode, 0) << patch.err;
  ASSERT_TRUE(eventually([&] {
    return condition(status("orders-consumers"), "OffsetsReset").value("reason", "") == "GroupNotEmpty";
  }, 60s)) << status("orders-consumers").dump() << "\n" << op->output();
  EXPECT_EQ(committed(state(), "orders-service"), (Json{{"orders-0", 15}, {"orders-1", 10}}));
  // Events are written by the operator's recorder thread, shortly after the status.
  EXPECT_TRUE(eventually([&] { return eventsAbout("orders-consumers").find("GroupNotEmpty") != std::string::npos; },
                         60s))
      << eventsAbout("orders-consumers");

  // The consumer stops: the reset is applied, and the lag shows it.
  kafka({{{"op", "leave"}, {"group", "orders-service"}, {"memberId", "m-1"}}});
  ASSERT_TRUE(eventually(
      [&] { return status("orders-consumers").value("lastReset", Json::object()).value("requestId", "") == "replay-1"; },
      120s))
      << status("orders-consumers").dump() << "\n" << op->output();
  EXPECT_EQ(committed(state(), "orders-service"), (Json{{"orders-0", 0}, {"orders-1", 0}}));
  EXPECT_EQ(condition(status("orders-consumers"), "OffsetsReset").value("status", ""), "True");
  ASSERT_TRUE(eventually([&] { return status("orders-consumers").value("totalLag", int64_t{-1}) == 45; }, 60s))
      << status("orders-consumers").dump();
  auto after = kubectl({"get", "kcg", "orders-consumers", "--no-headers"});
  ASSERT_GE(fields(after.out).size(), 5u) << after.out;
  EXPECT_EQ(fields(after.out)[2], "Empty") << after.out;
  EXPECT_EQ(fields(after.out)[4], "45") << after.out;

  // The consumers catch up; an unrelated edit never applies replay-1 again.
  kafka({{{"op", "commit"}, {"group", "orders-service"}, {"topic", "orders"}, {"partition", 0}, {"offset", 20}},
         {{"op", "commit"}, {"group", "orders-service"}, {"topic", "orders"}, {"partition", 1}, {"offset", 25}}});
  ASSERT_EQ(kubectl({"annotate", "kcg", "orders-consumers", "team=payments"}).exitCode, 0);
  ASSERT_TRUE(eventually([&] { return status("orders-consumers").value("totalLag", int64_t{-1}) == 0; }, 60s))
      << status("orders-consumers").dump();
  EXPECT_EQ(committed(state(), "orders-service"), (Json{{"orders-0", 20}, {"orders-1", 25}}));

  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(60s), 0) << op->output();
  op.reset();
}

TEST_F(ConsumerGroupE2E, LagScalesADeploymentThroughItsScaleSubresourceAndAnHpaMakesTheOperatorStepBack) {
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", std::string(TRIBUTARY_SOURCE_DIR) + "/crds/"}).exitCode, 0);
  ASSERT_EQ(kubectl({"wait", "--for=condition=Established", "crd/kafkaconsumergroups.tributary.dev", "--timeout=30s"})
                .exitCode,
            0);
  startOperator();
  // The consumers' Deployment (the user's), at 1 replica.
  std::ofstream(dir_ + "/deployment.yaml") << R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: orders-consumers, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: orders-consumers}}
  template:
    metadata: {labels: {app: orders-consumers}}
    spec: {containers: [{name: app, image: example.com/orders-consumer:1}]}
)";
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", dir_ + "/deployment.yaml"}).exitCode, 0);
  auto apply = kubectl({"apply", "--validate=false", "-f",
                        std::string(TRIBUTARY_SOURCE_DIR) + "/manifests/examples/orders-consumers-scaled-group.yaml"});
  ASSERT_EQ(apply.exitCode, 0) << apply.err;
  // 2500 records nobody has consumed: ceil(2500 / 1000 per replica) = 3.
  kafka({{{"op", "putTopic"}, {"topic", "orders"}, {"partitions", 12}},
         {{"op", "produce"}, {"topic", "orders"}, {"partition", 0}, {"count", 2500}}});
  auto replicas = [&] {
    return kubectl({"get", "deployment", "orders-consumers", "-o", "jsonpath={.spec.replicas}"}).out;
  };
  ASSERT_TRUE(eventually([&] { return replicas() == "3"; }, 60s))
      << replicas() << "\n" << status("orders-consumers-scaled").dump() << "\n" << op->output();
  ASSERT_TRUE(eventually([&] {
    return status("orders-consumers-scaled").value("scale", Json::object()).value("desired", -1) == 3;
  }, 60s)) << status("orders-consumers-scaled").dump();
  EXPECT_EQ(condition(status("orders-consumers-scaled"), "Scaling").value("status", ""), "True");
  EXPECT_TRUE(eventually(
      [&] {
        return eventsAbout("orders-consumers-scaled").find("scaled Deployment/orders-consumers from 1 to 3 replicas") !=
               std::string::npos;
      },
      60s))
      << eventsAbout("orders-consumers-scaled");

  // Someone puts an HPA on the same Deployment: the operator steps back and says so.
  std::ofstream(dir_ + "/hpa.yaml") << R"(apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: orders-consumers, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: orders-consumers}
  minReplicas: 1
  maxReplicas: 5
)";
  ASSERT_EQ(kubectl({"apply", "--validate=false", "-f", dir_ + "/hpa.yaml"}).exitCode, 0);
  ASSERT_TRUE(eventually([&] {
    return condition(status("orders-consumers-scaled"), "Scaling").value("reason", "") == "ScaleTargetConflict";
  }, 60s)) << status("orders-consumers-scaled").dump();
  // More lag (5500: 6 replicas by the formula) changes nothing while the HPA is there.
  kafka({{{"op", "produce"}, {"topic", "orders"}, {"partition", 1}, {"count", 3000}}});
  ASSERT_TRUE(eventually([&] { return status("orders-consumers-scaled").value("totalLag", int64_t{-1}) == 5500; }, 60s))
      << status("orders-consumers-scaled").dump();
  EXPECT_EQ(replicas(), "3");

  op->signal(SIGTERM);
  EXPECT_EQ(op->wait(60s), 0) << op->output();
  op.reset();
}

}  // namespace
