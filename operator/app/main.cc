// tributary-operator: the Kubernetes operator for Tributary's Kafka resources,
// and its file mode (`apply -f`). See operator/app/README.md.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "operator/app/allocator.h"
#include "operator/app/file_mode.h"
#include "operator/controllers/controller_mode.h"
#include "operator/inject/inject_command.h"

namespace {

constexpr const char* kUsage =
    "usage: tributary-operator [FLAGS]                 controller mode (reconciles KafkaTopic resources)\n"
    "       tributary-operator --help-controller       controller mode's flags\n"
    "       tributary-operator apply -f PATH... [...]  file mode: apply KafkaTopic YAML to Kafka, no Kubernetes\n"
    "       tributary-operator apply --help            file mode's flags\n"
    "       tributary-operator inject -f FILE|- [...]  print pods/workloads with the sidecar injected\n"
    "       tributary-operator inject --help          manual injection's flags\n"
    "  --version   print the version\n"
    "  --help, -h  print this usage\n";

}  // namespace

int main(int argc, char** argv) {
  tributary::op::app::limitMallocArenas();  // before any thread: see allocator.h
  std::vector<std::string> args(argv + 1, argv + argc);
  // librdkafka may write to a closed connection; that must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (!args.empty()) {
    if (args[0] == "--version") {
      std::cout << "tributary-operator " << TRIBUTARY_VERSION << "\n";
      return 0;
    }
    if (args[0] == "--help-controller")
      return tributary::op::controllers::runControllerMode({"--help"}, std::cout, std::cerr);
    if (args[0] == "--help" || args[0] == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (args[0] == "apply")
      return tributary::op::app::runApply({args.begin() + 1, args.end()}, std::cout, std::cerr,
                                          tributary::op::app::rdkafkaAdminFactory());
    if (args[0] == "inject")
      return tributary::op::inject::runInject({args.begin() + 1, args.end()}, std::cin, std::cout, std::cerr);
    if (args[0].rfind("-", 0) != 0) {
      std::cerr << "tributary-operator: unknown command " << args[0] << "\n" << kUsage;
      return tributary::op::app::kExitUsage;
    }
  }
  return tributary::op::controllers::runControllerMode(args, std::cout, std::cerr);
}
