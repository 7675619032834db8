// Create, read, update, patch and delete: the answers a client sees, with
// the real API's status codes, Status objects and metadata rules.
#include "tests/apiserver/api_client.h"

namespace tributary::apiserver::test {
namespace {

class Crud : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    installKafkaTopicCrd();
  }
  Json createTopic(const std::string& name, int partitions) {
    auto r = client->post(kTopics, kafkaTopic(name, partitions));
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body;
  }
};

void expectStatus(const Reply& r, int code, const std::string& reason) {
  EXPECT_EQ(r.status, code) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  EXPECT_EQ(r.body["kind"], "Status");
  EXPECT_EQ(r.body["apiVersion"], "v1");
  EXPECT_EQ(r.body["status"], "Failure");
  EXPECT_EQ(r.body["code"], code);
  EXPECT_EQ(r.body["reason"], reason);
  EXPECT_TRUE(r.body["message"].is_string());
}

TEST_F(Crud, CreateAnswers201WithSystemMetadata) {
  auto r = client->post(kConfigMaps, configMap("settings"));
  ASSERT_EQ(r.status, 201) << r.raw;
  const Json& meta = r.body["metadata"];
  EXPECT_EQ(meta["name"], "settings");
  EXPECT_EQ(meta["namespace"], "default");
  EXPECT_EQ(meta["generation"], 1);
  EXPECT_EQ(meta["uid"].get<std::string>().size(), 36u);
  EXPECT_TRUE(meta["creationTimestamp"].is_string());
  EXPECT_FALSE(meta["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(r.body["data"]["key"], "value");

  auto got = client->get(kConfigMaps + "/settings");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, r.body);
}

TEST_F(Crud, NamespaceInTheUrlIsTheObjectsNamespace) {
  Json cm = configMap("no-namespace");
  cm["metadata"].erase("namespace");
  auto r = client->post(kConfigMaps, cm);
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["metadata"]["namespace"], "default");

  auto mismatch = client->post(kConfigMaps, configMap("elsewhere", Json::object(), "kube-system"));
  expectStatus(mismatch, 400, "BadRequest");
}

TEST_F(Crud, CreatingAnExistingNameIs409AlreadyExists) {
  createTopic("orders", 3);
  auto r = client->post(kTopics, kafkaTopic("orders", 3));
  expectStatus(r, 409, "AlreadyExists");
  EXPECT_EQ(r.body["message"], "kafkatopics.tributary.dev \"orders\" already exists");
  EXPECT_EQ(r.body["details"]["name"], "orders");
  EXPECT_EQ(r.body["details"]["group"], "tributary.dev");
  EXPECT_EQ(r.body["details"]["kind"], "kafkatopics");
}

TEST_F(Crud, MissingObjectIs404NotFound) {
  auto r = client->get(kTopics + "/nope");
  expectStatus(r, 404, "NotFound");
  EXPECT_EQ(r.body["message"], "kafkatopics.tributary.dev \"nope\" not found");
  expectStatus(client->get(kConfigMaps + "/nope"), 404, "NotFound");
  expectStatus(client->put(kTopics + "/nope", kafkaTopic("nope", 1)), 404, "NotFound");
  expectStatus(client->patch(kTopics + "/nope", "{}"), 404, "NotFound");
  expectStatus(client->del(kTopics + "/nope"), 404, "NotFound");
}

TEST_F(Crud, UnknownResourceIs404) {
  expectStatus(client->get("/apis/tributary.dev/v1alpha1/namespaces/default/widgets"), 404, "NotFound");
  expectStatus(client->get("/apis/nothing.example/v1/things"), 404, "NotFound");
}

TEST_F(Crud, MissingNameIs422InvalidNamingTheField) {
  Json cm = configMap("x");
  cm["metadata"].erase("name");
  auto r = client->post(kConfigMaps, cm);
  expectStatus(r, 422, "Invalid");
  ASSERT_EQ(r.body["details"]["causes"].size(), 1u);
  EXPECT_EQ(r.body["details"]["causes"][0]["field"], "metadata.name");
  EXPECT_EQ(r.body["details"]["causes"][0]["reason"], "FieldValueRequired");

  auto bad = client->post(kConfigMaps, configMap("Not_A_Name"));
  expectStatus(bad, 422, "Invalid");
}

TEST_F(Crud, GenerateNameAddsARandomSuffix) {
  Json cm = configMap("x");
  cm["metadata"].erase("name");
  cm["metadata"]["generateName"] = "job-";
  auto a = client->post(kConfigMaps, cm);
  auto b = client->post(kConfigMaps, cm);
  ASSERT_EQ(a.status, 201) << a.raw;
  ASSERT_EQ(b.status, 201) << b.raw;
  const std::string na = a.body["metadata"]["name"], nb = b.body["metadata"]["name"];
  EXPECT_EQ(na.rfind("job-", 0), 0u);
  EXPECT_EQ(na.size(), 9u);
  EXPECT_NE(na, nb);
}

TEST_F(Crud, CreatingInAMissingNamespaceIs404) {
  auto r = client->post("/api/v1/namespaces/ghost/configmaps", configMap("c", Json::object(), "ghost"));
  expectStatus(r, 404, "NotFound");
  EXPECT_EQ(r.body["message"], "namespaces \"ghost\" not found");
}

TEST_F(Crud, ResourceVersionIsOneCounterAcrossAllTypes) {
  auto cm = client->post(kConfigMaps, configMap("a"));
  Json lease{{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", "leader"}}},
             {"spec", {{"holderIdentity", "pod-1"}, {"leaseDurationSeconds", 15}}}};
  auto l = client->post("/apis/coordination.k8s.io/v1/namespaces/default/leases", lease);
  auto topic = createTopic("t", 1);
  ASSERT_EQ(l.status, 201) << l.raw;
  const auto rv = [](const Json& o) { return std::stoull(o["metadata"]["resourceVersion"].get<std::string>()); };
  EXPECT_LT(rv(cm.body), rv(l.body));
  EXPECT_LT(rv(l.body), rv(topic));
  EXPECT_EQ(std::stoull(listResourceVersion(kConfigMaps)), rv(topic));
}

TEST_F(Crud, UpdateWithAStaleResourceVersionIs409Conflict) {
  Json v1 = createTopic("orders", 3);
  Json edit = v1;
  edit["spec"]["partitions"] = 6;
  auto ok = client->put(kTopics + "/orders", edit);
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_NE(ok.body["metadata"]["resourceVersion"], v1["metadata"]["resourceVersion"]);

  edit["spec"]["partitions"] = 9;  // still carries v1's resourceVersion
  auto stale = client->put(kTopics + "/orders", edit);
  expectStatus(stale, 409, "Conflict");
  EXPECT_EQ(stale.body["message"],
            "Operation cannot be fulfilled on kafkatopics.tributary.dev \"orders\": the object has been modified; "
            "please apply your changes to the latest version and try again");
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 6);
}

TEST_F(Crud, UpdateWithoutResourceVersionIsUnconditional) {
  createTopic("orders", 3);
  Json edit = kafkaTopic("orders", 12);
  auto r = client->put(kTopics + "/orders", edit);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["partitions"], 12);
}

TEST_F(Crud, UpdateKeepsSystemMetadataAndChecksTheName) {
  Json v1 = createTopic("orders", 3);
  Json edit = v1;
  edit["metadata"]["uid"] = nullptr;
  edit["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z";
  edit["metadata"]["generation"] = 42;
  auto r = client->put(kTopics + "/orders", edit);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["uid"], v1["metadata"]["uid"]);
  EXPECT_EQ(r.body["metadata"]["creationTimestamp"], v1["metadata"]["creationTimestamp"]);
  EXPECT_EQ(r.body["metadata"]["generation"], 1);

  edit["metadata"]["name"] = "other";
  expectStatus(client->put(kTopics + "/orders", edit), 400, "BadRequest");
}

TEST_F(Crud, RewritingTheSameObjectChangesNothing) {
  Json v1 = createTopic("orders", 3);
  auto r = client->put(kTopics + "/orders", v1);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["resourceVersion"], v1["metadata"]["resourceVersion"]);
  EXPECT_EQ(server->resourceVersion(), std::stoull(v1["metadata"]["resourceVersion"].get<std::string>()));
}

TEST_F(Crud, GenerationCountsSpecChangesOnly) {
  createTopic("orders", 3);
  auto gen = [&] { return client->get(kTopics + "/orders").body["metadata"]["generation"].get<int>(); };
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"metadata":{"labels":{"team":"a"},"annotations":{"x":"y"}}})").status, 200);
  EXPECT_EQ(gen(), 1);
  ASSERT_EQ(client->patch(kTopics + "/orders/status", R"({"status":{"phase":"Ready"}})").status, 200);
  EXPECT_EQ(gen(), 1);
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"spec":{"partitions":4}})").status, 200);
  EXPECT_EQ(gen(), 2);
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"spec":{"config":{"retention.ms":"1000"}}})").status, 200);
  EXPECT_EQ(gen(), 3);

  // Without a status subresource (a ConfigMap) any non-metadata change counts.
  auto cm = client->post(kConfigMaps, configMap("c"));
  ASSERT_EQ(cm.body["metadata"]["generation"], 1);
  auto edited = client->patch(kConfigMaps + "/c", R"({"data":{"key":"other"}})");
  EXPECT_EQ(edited.body["metadata"]["generation"], 2);
}

TEST_F(Crud, StatusSubresourceChangesOnlyStatus) {
  Json v1 = createTopic("orders", 3);
  Json body = v1;
  body["spec"]["partitions"] = 100;
  body["metadata"]["labels"] = {{"sneaky", "yes"}};
  body["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  auto r = client->put(kTopics + "/orders/status", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["partitions"], 3);
  EXPECT_FALSE(r.body["metadata"].contains("labels"));
  EXPECT_EQ(r.body["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(r.body["metadata"]["generation"], 1);

  // Stale resourceVersions conflict on /status too.
  expectStatus(client->put(kTopics + "/orders/status", body), 409, "Conflict");
}

TEST_F(Crud, MainResourceIgnoresStatus) {
  Json created = client->post(kTopics, [] {
    Json t = kafkaTopic("orders", 3);
    t["status"] = {{"phase", "Faked"}};
    return t;
  }()).body;
  EXPECT_FALSE(created.contains("status")) << "create drops status when there is a status subresource";

  ASSERT_EQ(client->patch(kTopics + "/orders/status", R"({"status":{"phase":"Real"}})").status, 200);
  Json edit = client->get(kTopics + "/orders").body;
  edit["status"]["phase"] = "Overwritten";
  edit["spec"]["partitions"] = 5;
  auto r = client->put(kTopics + "/orders", edit);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["status"]["phase"], "Real");
  EXPECT_EQ(r.body["spec"]["partitions"], 5);

  auto p = client->patch(kTopics + "/orders", R"({"status":{"phase":"Patched"}})");
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body["status"]["phase"], "Real");
}

TEST_F(Crud, StatusOfATypeWithoutTheSubresourceIs404) {
  client->post(kConfigMaps, configMap("c"));
  expectStatus(client->get(kConfigMaps + "/c/status"), 404, "NotFound");
}

TEST_F(Crud, MergePatchFollowsRfc7386) {
  Json t = kafkaTopic("orders", 3);
  t["spec"]["config"] = {{"retention.ms", "1000"}, {"cleanup.policy", "delete"}};
  ASSERT_EQ(client->post(kTopics, t).status, 201);
  auto r = client->patch(kTopics + "/orders",
                         R"({"spec":{"partitions":6,"config":{"retention.ms":null,"segment.ms":"10"}}})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["partitions"], 6);
  EXPECT_EQ(r.body["spec"]["config"], (Json{{"cleanup.policy", "delete"}, {"segment.ms", "10"}}));
  EXPECT_EQ(r.body["spec"]["topicName"], "orders-topic");
}

TEST_F(Crud, JsonPatchAppliesOperationsAndFailedTestsAre422) {
  createTopic("orders", 3);
  auto r = client->patch(kTopics + "/orders",
                         R"([{"op":"replace","path":"/spec/partitions","value":8},
                             {"op":"add","path":"/metadata/labels","value":{"a":"b"}}])",
                         "application/json-patch+json");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["partitions"], 8);
  EXPECT_EQ(r.body["metadata"]["labels"]["a"], "b");

  auto failed = client->patch(kTopics + "/orders", R"([{"op":"test","path":"/spec/partitions","value":1}])",
                              "application/json-patch+json");
  expectStatus(failed, 422, "Invalid");
}

TEST_F(Crud, PatchCarryingAStaleResourceVersionIs409) {
  Json v1 = createTopic("orders", 3);
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"spec":{"partitions":4}})").status, 200);
  Json patch{{"metadata", {{"resourceVersion", v1["metadata"]["resourceVersion"]}}}, {"spec", {{"partitions", 5}}}};
  expectStatus(client->patch(kTopics + "/orders", patch.dump()), 409, "Conflict");
}

TEST_F(Crud, StrategicMergePatchIsRefusedForCustomResourcesAndMergesBuiltIns) {
  createTopic("orders", 3);
  auto r = client->patch(kTopics + "/orders", R"({"spec":{"partitions":4}})",
                         "application/strategic-merge-patch+json");
  expectStatus(r, 415, "UnsupportedMediaType");

  client->post(kConfigMaps, configMap("c"));
  auto cm = client->patch(kConfigMaps + "/c",
                          R"({"data":{"more":"x"},"$setElementOrder/finalizers":[],"metadata":{"labels":{"a":"b"}}})",
                          "application/strategic-merge-patch+json");
  ASSERT_EQ(cm.status, 200) << cm.raw;
  EXPECT_EQ(cm.body["data"], (Json{{"key", "value"}, {"more", "x"}}));
  EXPECT_EQ(cm.body["metadata"]["labels"]["a"], "b");
  EXPECT_FALSE(cm.body.contains("$setElementOrder/finalizers"));

  expectStatus(client->patch(kConfigMaps + "/c", "a: b", "application/apply-patch+yaml"), 415,
               "UnsupportedMediaType");
}

TEST_F(Crud, MalformedBodiesAre400) {
  expectStatus(client->send("POST", kConfigMaps, "{not json", "application/json"), 400, "BadRequest");
  expectStatus(client->send("POST", kConfigMaps, "[1,2]", "application/json"), 400, "BadRequest");
  expectStatus(client->patch(kConfigMaps + "/x", "{not json"), 404, "NotFound");  // the object is looked up first
  client->post(kConfigMaps, configMap("x"));
  expectStatus(client->patch(kConfigMaps + "/x", "{not json"), 400, "BadRequest");
  Json wrongKind = configMap("y");
  wrongKind["kind"] = "Secret";
  expectStatus(client->post(kConfigMaps, wrongKind), 400, "BadRequest");
  Json noKind = kafkaTopic("z", 1);
  noKind.erase("kind");
  expectStatus(client->post(kTopics, noKind), 400, "BadRequest");
  expectStatus(client->send("POST", kConfigMaps, configMap("p").dump(), "application/vnd.kubernetes.protobuf"), 415,
               "UnsupportedMediaType");
}

TEST_F(Crud, InvalidLabelsAre422) {
  auto r = client->post(kConfigMaps, configMap("c", {{"team", "has spaces"}}));
  expectStatus(r, 422, "Invalid");
  EXPECT_EQ(r.body["details"]["causes"][0]["field"], "metadata.labels");
}

TEST_F(Crud, DeleteAnswersASuccessStatusAndTheObjectIsGone) {
  Json t = createTopic("orders", 3);
  auto r = client->del(kTopics + "/orders");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "Status");
  EXPECT_EQ(r.body["status"], "Success");
  EXPECT_EQ(r.body["details"]["name"], "orders");
  EXPECT_EQ(r.body["details"]["uid"], t["metadata"]["uid"]);
  expectStatus(client->get(kTopics + "/orders"), 404, "NotFound");
  // The name is free again; the new object is a new object.
  Json again = createTopic("orders", 3);
  EXPECT_NE(again["metadata"]["uid"], t["metadata"]["uid"]);
}

TEST_F(Crud, FinalizersHoldADeletedObjectUntilTheLastIsRemoved) {
  Json t = kafkaTopic("orders", 3);
  t["metadata"]["finalizers"] = {"tributary.dev/topic", "example.com/other"};
  ASSERT_EQ(client->post(kTopics, t).status, 201);

  auto del = client->del(kTopics + "/orders");
  ASSERT_EQ(del.status, 200) << del.raw;
  EXPECT_EQ(del.body["kind"], "KafkaTopic");
  EXPECT_TRUE(del.body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(del.body["metadata"]["deletionGracePeriodSeconds"], 0);
  EXPECT_EQ(del.body["metadata"]["generation"], 2) << "the real server bumps generation when marking for deletion";

  auto stillThere = client->get(kTopics + "/orders");
  ASSERT_EQ(stillThere.status, 200);
  EXPECT_EQ(stillThere.body["metadata"]["deletionTimestamp"], del.body["metadata"]["deletionTimestamp"]);
  // Deleting again changes nothing.
  auto again = client->del(kTopics + "/orders");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body["metadata"]["resourceVersion"], del.body["metadata"]["resourceVersion"]);

  // No new finalizers on an object being deleted.
  expectStatus(client->patch(kTopics + "/orders",
                             R"({"metadata":{"finalizers":["tributary.dev/topic","example.com/other","new/one"]}})"),
               422, "Invalid");
  // Spec edits are still allowed while it terminates.
  ASSERT_EQ(client->patch(kTopics + "/orders", R"({"metadata":{"finalizers":["example.com/other"]}})").status, 200);
  ASSERT_EQ(client->get(kTopics + "/orders").status, 200);
  auto last = client->patch(kTopics + "/orders", R"({"metadata":{"finalizers":null}})");
  ASSERT_EQ(last.status, 200) << last.raw;
  expectStatus(client->get(kTopics + "/orders"), 404, "NotFound");
}

TEST_F(Crud, DeletePreconditionsMustMatch) {
  Json t = createTopic("orders", 3);
  auto wrongUid = client->del(kTopics + "/orders", {{"preconditions", {{"uid", "00000000-0000-0000-0000-000000000000"}}}});
  expectStatus(wrongUid, 409, "Conflict");
  auto wrongRv = client->del(kTopics + "/orders", {{"preconditions", {{"resourceVersion", "1"}}}});
  expectStatus(wrongRv, 409, "Conflict");
  ASSERT_EQ(client->get(kTopics + "/orders").status, 200);
  auto ok = client->del(kTopics + "/orders",
                        {{"kind", "DeleteOptions"},
                         {"apiVersion", "v1"},
                         {"preconditions",
                          {{"uid", t["metadata"]["uid"]}, {"resourceVersion", t["metadata"]["resourceVersion"]}}}});
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(client->get(kTopics + "/orders").status, 404);
}

TEST_F(Crud, DeleteCollectionBySelector) {
  client->post(kConfigMaps, configMap("a", {{"app", "x"}}));
  client->post(kConfigMaps, configMap("b", {{"app", "x"}}));
  client->post(kConfigMaps, configMap("c", {{"app", "y"}}));
  auto r = client->del(kConfigMaps + "?labelSelector=app%3Dx");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["items"].size(), 2u);
  auto left = client->get(kConfigMaps);
  ASSERT_EQ(left.body["items"].size(), 1u);
  EXPECT_EQ(left.body["items"][0]["metadata"]["name"], "c");
}

TEST_F(Crud, DryRunValidatesWithoutStoring) {
  auto r = client->post(kTopics + "?dryRun=All", kafkaTopic("orders", 3));
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["metadata"]["name"], "orders");
  EXPECT_EQ(client->get(kTopics + "/orders").status, 404);
  expectStatus(client->post(kTopics + "?dryRun=All", kafkaTopic("bad", 0)), 422, "Invalid");
  createTopic("orders", 3);
  ASSERT_EQ(client->patch(kTopics + "/orders?dryRun=All", R"({"spec":{"partitions":9}})").body["spec"]["partitions"], 9);
  EXPECT_EQ(client->get(kTopics + "/orders").body["spec"]["partitions"], 3);
  ASSERT_EQ(client->del(kTopics + "/orders?dryRun=All").status, 200);
  EXPECT_EQ(client->get(kTopics + "/orders").status, 200);
}

TEST_F(Crud, CustomResourcesAreValidatedPrunedAndDefaultedByTheSchema) {
  Json t = kafkaTopic("orders", 0);
  t["spec"]["unknownField"] = "dropped";
  t["spec"]["config"] = {{"retention.ms", 1000}};
  auto bad = client->post(kTopics, t);
  expectStatus(bad, 422, "Invalid");
  std::set<std::string> fields;
  for (const auto& c : bad.body["details"]["causes"]) fields.insert(c["field"].get<std::string>());
  EXPECT_EQ(fields, (std::set<std::string>{"spec.partitions", "spec.config.retention.ms"})) << bad.raw;
  EXPECT_NE(bad.body["message"].get<std::string>().find("should be greater than or equal to 1"), std::string::npos);

  t["spec"]["partitions"] = 3;
  t["spec"]["config"] = {{"retention.ms", "1000"}};
  auto ok = client->post(kTopics, t);
  ASSERT_EQ(ok.status, 201) << ok.raw;
  EXPECT_FALSE(ok.body["spec"].contains("unknownField")) << "pruned";
  EXPECT_EQ(ok.body["spec"]["replicationFactor"], -1) << "defaulted";

  Json missing = kafkaTopic("nopartitions", 1);
  missing["spec"].erase("partitions");
  auto r = client->post(kTopics, missing);
  expectStatus(r, 422, "Invalid");
  EXPECT_EQ(r.body["details"]["causes"][0]["field"], "spec.partitions");
  EXPECT_EQ(r.body["details"]["causes"][0]["reason"], "FieldValueRequired");
}

TEST_F(Crud, NamespaceDeletionDeletesItsContentsAndWaitsForFinalizers) {
  ASSERT_EQ(client->post("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}}).status, 201);
  const std::string teamTopics = "/apis/tributary.dev/v1alpha1/namespaces/team/kafkatopics";
  ASSERT_EQ(client->post("/api/v1/namespaces/team/configmaps", configMap("c", Json::object(), "team")).status, 201);
  Json held = kafkaTopic("held", 1, "team");
  held["metadata"]["finalizers"] = {"tributary.dev/topic"};
  ASSERT_EQ(client->post(teamTopics, held).status, 201);

  auto del = client->del("/api/v1/namespaces/team");
  ASSERT_EQ(del.status, 200) << del.raw;
  auto ns = client->get("/api/v1/namespaces/team");
  ASSERT_EQ(ns.status, 200);
  EXPECT_EQ(ns.body["status"]["phase"], "Terminating");
  EXPECT_EQ(client->get("/api/v1/namespaces/team/configmaps/c").status, 404);
  EXPECT_TRUE(client->get(teamTopics + "/held").body["metadata"].contains("deletionTimestamp"));

  auto refused = client->post("/api/v1/namespaces/team/configmaps", configMap("new", Json::object(), "team"));
  expectStatus(refused, 403, "Forbidden");

  ASSERT_EQ(client->patch(teamTopics + "/held", R"({"metadata":{"finalizers":[]}})").status, 200);
  EXPECT_EQ(client->get("/api/v1/namespaces/team").status, 404);

  expectStatus(client->del("/api/v1/namespaces/default"), 403, "Forbidden");
}

TEST_F(Crud, NamespacesCarryTheirNameLabel) {
  auto r = client->post("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "a"}}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["metadata"]["labels"]["kubernetes.io/metadata.name"], "a");
  EXPECT_EQ(r.body["status"]["phase"], "Active");
}

TEST_F(Crud, LeasesAndEventsAreStoredLikeAnyResource) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  Json lease{{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", "tributary-operator"}}},
             {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}, {"renewTime", "2024-01-01T00:00:00.000000Z"}}}};
  auto created = client->post(leases, lease);
  ASSERT_EQ(created.status, 201) << created.raw;
  Json renew = created.body;
  renew["spec"]["holderIdentity"] = "b";
  ASSERT_EQ(client->put(leases + "/tributary-operator", renew).status, 200);
  expectStatus(client->put(leases + "/tributary-operator", renew), 409, "Conflict");  // b's takeover was first
  EXPECT_EQ(client->get(leases + "/tributary-operator").body["spec"]["holderIdentity"], "b");

  Json coreEvent{{"apiVersion", "v1"},
                 {"kind", "Event"},
                 {"metadata", {{"name", "orders.17a"}}},
                 {"involvedObject", {{"kind", "KafkaTopic"}, {"name", "orders"}, {"namespace", "default"}}},
                 {"reason", "Created"},
                 {"message", "topic created"},
                 {"type", "Normal"}};
  ASSERT_EQ(client->post("/api/v1/namespaces/default/events", coreEvent).status, 201);
  auto byObject = client->get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dorders");
  ASSERT_EQ(byObject.status, 200) << byObject.raw;
  EXPECT_EQ(byObject.body["items"].size(), 1u);

  Json newEvent{{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "orders.17b"}}},
                {"eventTime", "2024-01-01T00:00:00.000000Z"},
                {"regarding", {{"kind", "KafkaTopic"}, {"name", "orders"}}},
                {"reason", "Updated"},
                {"action", "Reconcile"},
                {"reportingController", "tributary.dev/operator"},
                {"reportingInstance", "pod-1"},
                {"type", "Normal"}};
  ASSERT_EQ(client->post("/apis/events.k8s.io/v1/namespaces/default/events", newEvent).status, 201);
  EXPECT_EQ(client->get("/apis/events.k8s.io/v1/namespaces/default/events/orders.17b").body["action"], "Reconcile");
}

TEST_F(Crud, PodsAnswerDeleteWithTheDeletedObject) {
  Json pod{{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", "p"}}},
           {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  ASSERT_EQ(client->post("/api/v1/namespaces/default/pods", pod).status, 201);
  auto r = client->del("/api/v1/namespaces/default/pods/p");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["kind"], "Pod");
}

TEST_F(Crud, WrongMethodsAre405) {
  expectStatus(client->send("POST", kTopics + "/orders", "{}", "application/json"), 405, "MethodNotAllowed");
  expectStatus(client->send("PUT", kTopics, "{}", "application/json"), 405, "MethodNotAllowed");
  expectStatus(client->post("/apis/tributary.dev/v1alpha1/kafkatopics", kafkaTopic("x", 1)), 405, "MethodNotAllowed");
}

}  // namespace
}  // namespace tributary::apiserver::test
