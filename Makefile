# make test            everything, from a fresh machine: setup, both images, unit tests, end-to-end tests on
#                      Kea 2.6 and on Kea 3.0
# make image [KEA=3.0] the project image for one Kea release (default 2.6), and Debian's Kea alone (the plain
#                      Debian host the package stories install the .deb into)
# make deb [KEA=3.0]   target/deb/kea-cloudstack-hook_<version>+kea<Kea version>_amd64.deb, built and checked by
#                      lintian in the image's build container (the Dockerfile's deb stage)
# make e2e [KEA=3.0]   the end-to-end stories against that release's image (and its package)
# make demo            a sample cloud behind the real Kea, printing MAC -> delegated prefix
#
# A hook is built per Kea release: KEA=2.6 is Debian 13 trixie's kea 2.6.3, KEA=3.0 trixie-backports' 3.0.x.
KEA ?= 2.6
IMAGE_2.6 ?= kea-cloudstack:latest
IMAGE_3.0 ?= kea-cloudstack:kea3.0
OTHER_2.6 = 3.0
OTHER_3.0 = 2.6
ifeq ($(filter 2.6 3.0,$(KEA)),)
$(error KEA must be 2.6 or 3.0, not '$(KEA)')
endif
# The image of KEA (the 2.6 one is kea-cloudstack, i.e. kea-cloudstack:latest, as before).
IMAGE ?= $(IMAGE_$(KEA))
# The other release's image, whose hook the version stories show being refused.
OTHER_IMAGE ?= $(IMAGE_$(OTHER_$(KEA)))
# Debian's kea-dhcp6-server of that release and nothing of this project (the Dockerfile's debian-kea stage).
DEBIAN_KEA_IMAGE_2.6 ?= kea-cloudstack-debian-kea:2.6
DEBIAN_KEA_IMAGE_3.0 ?= kea-cloudstack-debian-kea:3.0
DEBIAN_KEA_IMAGE ?= $(DEBIAN_KEA_IMAGE_$(KEA))
DEB_DIR ?= target/deb
E2E_THREADS ?= 2
# The PostgreSQL server the lease-database stories run (Debian trixie's postgresql).
POSTGRES_IMAGE ?= kea-cloudstack-postgres
# Stories that hold on one release only, skipped by name there (the README's Tests section and the story say why);
# none today: every story holds on both releases.
E2E_SKIP_2.6 =
E2E_SKIP_3.0 =

.PHONY: test setup build-ca image images deb debs unit e2e e2e-all demo

test: setup images debs unit e2e-all

setup:
	bash tests/setup/host.sh

# Networks that inspect TLS: the host's extra CAs go to the build stage.
build-ca:
	cp /usr/local/share/ca-certificates/*.crt tests/setup/build-ca/ 2>/dev/null || true

# The classic builder (no BuildKit here) builds every stage, the package too; the second build only tags a stage.
image: build-ca
	docker build --network host --build-arg KEA=$(KEA) -t $(IMAGE) .
	docker build --network host --build-arg KEA=$(KEA) --target debian-kea -t $(DEBIAN_KEA_IMAGE) .

images:
	$(MAKE) image KEA=2.6
	$(MAKE) image KEA=3.0
	docker build --network host -t $(POSTGRES_IMAGE) -f tests/setup/postgres/Dockerfile .

# The deb stage's /out/ (the package and lintian's output) copied out of the image it made (after `make image`
# every step is cached). No --output: that needs BuildKit.
deb: build-ca
	mkdir -p $(DEB_DIR)
	docker build --network host --build-arg KEA=$(KEA) --target deb --iidfile $(DEB_DIR)/.deb-$(KEA).iid .
	set -e; out=$(DEB_DIR)/.out-$(KEA); rm -rf $$out; \
	  container=$$(docker create $$(cat $(DEB_DIR)/.deb-$(KEA).iid) /bin/true); \
	  if docker cp $$container:/out $$out; then copied=yes; else copied=no; fi; \
	  docker rm $$container >/dev/null; [ $$copied = yes ]; \
	  for lintian in $$out/*.lintian; do echo "lintian $${lintian##*/}:"; cat $$lintian; done; \
	  mv $$out/* $(DEB_DIR)/; rmdir $$out; rm -f $(DEB_DIR)/.deb-$(KEA).iid
	ls -l $(DEB_DIR)/*.deb

debs:
	$(MAKE) deb KEA=2.6
	$(MAKE) deb KEA=3.0

unit:
	cargo test --locked --lib --bins --features test-tools

e2e:
	KC_IMAGE=$(IMAGE) KC_OTHER_IMAGE=$(OTHER_IMAGE) KC_POSTGRES_IMAGE=$(POSTGRES_IMAGE) \
	  KC_DEBIAN_KEA_IMAGE=$(DEBIAN_KEA_IMAGE) KC_DEB_DIR=$(CURDIR)/$(DEB_DIR) \
	  cargo test --locked --features e2e --test e2e -- --test-threads=$(E2E_THREADS) $(E2E_SKIP_$(KEA))

# Every story against Kea 2.6, then every story against Kea 3.0 (one after the other: 2 threads each).
e2e-all:
	$(MAKE) e2e KEA=2.6
	$(MAKE) e2e KEA=3.0

demo: setup image
	KC_IMAGE=$(IMAGE) cargo test --locked --features e2e --test e2e -- --ignored --nocapture demo_

FUZZ_RUNS ?= 10000000
FUZZ_TARGETS = relay_options cloudstack_json snapshot_file hook_parameters
.PHONY: fuzz
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t -- -runs=$(FUZZ_RUNS) -max_len=4096 -print_final_stats=1 2>&1 | \
	    grep -E 'stat::number_of_executed_units|Done|SUMMARY|crash' ; \
	done

# Benchmarks: writes BENCHMARKS.md (figures as ratios against baselines run side by side).
# Figure 7 (the CPU the hook adds, callout by callout) runs perf on the host against Kea's process; perf names
# the hook's functions from the unstripped library of the image's build stage, put in perf's build-id cache
# by `profile-symbols` (the runtime image keeps the stripped one users get).
BUILD_IMAGE_2.6 ?= kea-cloudstack-build:2.6
BUILD_IMAGE_3.0 ?= kea-cloudstack-build:3.0
BUILD_IMAGE ?= $(BUILD_IMAGE_$(KEA))
# Figure 8 (instructions per exchange) runs kea-dhcp6 under callgrind in the project image plus valgrind, with
# the hook's symbols but not its line tables (callgrind would split each function by the files inlined into it).
VALGRIND_IMAGE_2.6 ?= kea-cloudstack-valgrind:2.6
VALGRIND_IMAGE_3.0 ?= kea-cloudstack-valgrind:3.0
VALGRIND_IMAGE ?= $(VALGRIND_IMAGE_$(KEA))
PROFILE_ENV = KC_VALGRIND_IMAGE=$(VALGRIND_IMAGE) KC_HOOK_SYMBOLS=$(CURDIR)/target/profile/$(KEA)/libdhcp_cloudstack.symbols.so
.PHONY: bench profile profile-symbols
profile-symbols:
	command -v perf >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null)
	docker build --network host --build-arg KEA=$(KEA) --target build -t $(BUILD_IMAGE) .
	set -e; mkdir -p target/profile/$(KEA); container=$$(docker create $(BUILD_IMAGE) /bin/true); \
	  docker cp $$container:/libdhcp_cloudstack.so target/profile/$(KEA)/libdhcp_cloudstack.so; docker rm $$container >/dev/null
	perf buildid-cache --add target/profile/$(KEA)/libdhcp_cloudstack.so
	objcopy --strip-debug target/profile/$(KEA)/libdhcp_cloudstack.so target/profile/$(KEA)/libdhcp_cloudstack.symbols.so
	command -v callgrind_annotate >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
	docker build --network host --build-arg IMAGE=$(IMAGE) -t $(VALGRIND_IMAGE) tests/setup/profile

# Figures 7 and 8 alone (printed, BENCHMARKS.md untouched).
profile: setup image profile-symbols
	KC_IMAGE=$(IMAGE) $(PROFILE_ENV) KC_BENCH_ONLY=7,8 cargo test --locked --release --features e2e --test e2e -- --ignored --nocapture --test-threads=1 bench_

bench: setup image profile-symbols
	command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
	cargo build --locked --release --example packet_path
	KC_IMAGE=$(IMAGE) $(PROFILE_ENV) KC_PACKET_PATH_BENCH=$(CURDIR)/target/release/examples/packet_path \
	  cargo test --locked --release --features e2e --test e2e -- --ignored --nocapture --test-threads=1 bench_
