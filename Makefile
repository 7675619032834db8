# The two commands a newcomer needs: `make run` and `make test`. See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CMAKE_ARGS ?=
LAUNCHER   := $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: deps images-deps build build-asan images run test test-fast test-asan bench clean manifests

deps:
	@bash scripts/install-deps.sh

# podman, buildah, runc, catatonit: for the images and the e2e pod test only.
images-deps:
	@bash scripts/install-deps.sh images

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(LAUNCHER) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTRIBUTARY_SANITIZE=ON $(LAUNCHER) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# tributary/operator and tributary/sidecar from the binaries of `make build`
# (FROM scratch; images/README.md); prints each image's size.
images: build images-deps
	@bash scripts/images.sh --build-dir $(BUILD)

# Starts the sidecar on its embedded 3-broker Kafka (dev mode).
run: build
	./$(BUILD)/bin/tributary-sidecar --dev $(ARGS)

# Every test, then every test again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-fast test-asan

# The e2e pod test (ctest label e2e-pod) builds the images itself (fixture
# e2e_pod_images) and runs them with podman; hence images-deps.
test-fast: build images-deps
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS)

bench: build
	./$(BUILD)/bin/tributary-bench $(ARGS)
	./$(BUILD)/bin/tributary-consume-bench $(ARGS_CONSUME)
	./$(BUILD)/bin/tributary-pipeline-bench $(ARGS_PIPELINE)
	./$(BUILD)/bin/tributary-operator-bench $(ARGS_OPERATOR)

# manifests/install.yaml = `helm template tributary helm/tributary --include-crds` with
# the chart's defaults, rendered by tests/support/helm-render; the chart's crds/ are
# copies of crds/. A test fails when either is stale.
manifests: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(LAUNCHER) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) --target tributary-helm-render
	@rm -f helm/tributary/crds/*.yaml && cp crds/*.yaml helm/tributary/crds/
	@./$(BUILD)/bin/tributary-helm-render --include-crds helm/tributary > manifests/install.yaml.tmp
	@mv manifests/install.yaml.tmp manifests/install.yaml
	@echo "manifests/install.yaml and helm/tributary/crds/ regenerated"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
