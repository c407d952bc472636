# make test   everything, from a fresh machine: setup, image, unit tests, end-to-end tests
# make demo   a sample cloud behind the real Kea, printing MAC -> delegated prefix
IMAGE ?= kea-cloudstack
E2E_THREADS ?= 2

.PHONY: test setup image unit e2e demo

test: setup image unit e2e

setup:
	bash tests/setup/host.sh

image:
	cp /usr/local/share/ca-certificates/*.crt tests/setup/build-ca/ 2>/dev/null || true
	docker build --network host -t $(IMAGE) .
	docker build --network host -t $(IMAGE)-postgres -f tests/setup/postgres/Dockerfile .

unit:
	cargo test --locked --lib --bins --features test-tools

e2e:
	KC_IMAGE=$(IMAGE) KC_POSTGRES_IMAGE=$(IMAGE)-postgres cargo test --locked --features e2e --test e2e -- --test-threads=$(E2E_THREADS)

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
.PHONY: bench
bench: setup image
	command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
	cargo build --locked --release --example packet_path
	KC_IMAGE=$(IMAGE) KC_PACKET_PATH_BENCH=$(CURDIR)/target/release/examples/packet_path \
	  cargo test --locked --release --features e2e --test e2e -- --ignored --nocapture --test-threads=1 bench_
