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

unit:
	cargo test --locked --lib --bins --features test-tools

e2e:
	KC_IMAGE=$(IMAGE) cargo test --locked --features e2e --test e2e -- --test-threads=$(E2E_THREADS)

demo: setup image
	KC_IMAGE=$(IMAGE) cargo test --locked --features e2e --test e2e -- --ignored --nocapture demo_
