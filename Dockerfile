# kea-cloudstack: Kea 2.6.3 (Debian 13 "trixie") with the hook at Kea's default hooks path.
#   docker build -t kea-cloudstack .
# The build stage uses Debian's own cargo (1.85), kea-dev, boost and libclang.
FROM debian:trixie AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cargo rustc kea-dev libboost-dev libclang-dev clang g++ pkg-config ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Networks that inspect TLS: CAs the host added (see tests/setup/build-ca/README.md).
COPY tests/setup/build-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null 2>&1 || true
WORKDIR /src
# Dependencies first, with stub sources, so that source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/tools/cloudstack_standin tests/tools/dhcp6_router tests/e2e \
 && echo 'fn main() {}' > build.rs && touch src/lib.rs \
 && for f in tests/tools/cloudstack_standin/main.rs tests/tools/dhcp6_router/main.rs tests/e2e/main.rs; do echo 'fn main() {}' > $f; done \
 && cargo build --release --lib --locked \
 && rm -rf src build.rs target/release/.fingerprint/kea-cloudstack-* target/release/build/kea-cloudstack-*
COPY build.rs ./
COPY cpp-shim cpp-shim
COPY src src
RUN cargo build --release --lib --locked --features kea \
 && cp target/release/libdhcp_cloudstack.so /libdhcp_cloudstack.so

FROM debian:trixie
# kea-admin (with psql) makes a SQL lease database's schema: `kea-admin db-init pgsql`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kea-dhcp6-server kea-admin postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/kea /var/lib/kea
COPY --from=build /libdhcp_cloudstack.so /usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_cloudstack.so
COPY kea-config/kea-dhcp6.conf /etc/kea/kea-dhcp6.conf
CMD ["kea-dhcp6", "-c", "/etc/kea/kea-dhcp6.conf"]
