# kea-cloudstack: kea-dhcp6 with the hook at Kea's default hooks path, for one exact Kea release.
#   docker build -t kea-cloudstack .                            Kea 2.6.3 (Debian 13 "trixie")
#   docker build --build-arg KEA=3.0 -t kea-cloudstack:kea3.0 . Kea 3.0.x (trixie-backports)
# A hook is built per Kea release (its version() is the KEA_HOOKS_VERSION of the headers it was compiled
# with), so the runtime stage installs the very same Kea version, from the same suite, as the build stage.
# Stages: kea-suite (where Kea comes from), build (the hook), deb (the Debian package kea-cloudstack-hook:
# the hook and cloudstack-kea, checked by lintian; `make deb` copies /out/ out), debian-kea (Debian's
# kea-dhcp6-server alone, nothing of this project: the package stories install the .deb into it), and the
# runtime image: debian-kea with the package installed.
# The build stage uses Debian's own cargo (1.85), boost, OpenSSL headers (Kea 3.0's dhcpsrv headers include
# its TLS headers) and libclang from trixie; only Kea comes from the suite KEA selects.
ARG KEA=2.6

FROM debian:trixie AS kea-suite
ARG KEA
# /kea-suite names the suite Kea comes from. trixie-backports is added with the same mirror as the
# image's trixie source (a debootstrap image has a one-line sources.list; Debian's own image deb822).
RUN set -eu; \
    case "$KEA" in \
      2.6) echo trixie > /kea-suite ;; \
      3.0) echo trixie-backports > /kea-suite; \
           mirror=$(sed -n 's/^deb \(http[^ ]*\) trixie main.*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1); \
           [ -n "$mirror" ] || mirror=$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1); \
           echo "deb ${mirror:-http://deb.debian.org/debian} trixie-backports main" > /etc/apt/sources.list.d/trixie-backports.list ;; \
      *) echo "KEA must be 2.6 or 3.0, not '$KEA'" >&2; exit 1 ;; \
    esac

FROM kea-suite AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cargo rustc libboost-dev libssl-dev libclang-dev clang g++ pkg-config ca-certificates \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t "$(cat /kea-suite)" kea-dev \
 && dpkg-query -W -f '${Version}\n' kea-dev > /kea-version \
 && rm -rf /var/lib/apt/lists/*
# What the deb stage packages with (here, before the sources, so that source edits do not reinstall them).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dpkg-dev lintian \
 && rm -rf /var/lib/apt/lists/*
# Networks that inspect TLS: CAs the host added (see tests/setup/build-ca/README.md).
COPY tests/setup/build-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null 2>&1 || true
WORKDIR /src
# C and C++ (ring's, the shim) compiled with Debian's hardening flags (stack protector, _FORTIFY_SOURCE, ...), as
# Debian builds its packages; the cc crate reads CFLAGS and CXXFLAGS, not CPPFLAGS, so those come first in both.
RUN printf 'export CFLAGS="%s %s"\nexport CXXFLAGS="%s %s"\n' \
      "$(dpkg-buildflags --get CPPFLAGS)" "$(dpkg-buildflags --get CFLAGS)" \
      "$(dpkg-buildflags --get CPPFLAGS)" "$(dpkg-buildflags --get CXXFLAGS)" > /buildflags.sh
# Dependencies first, with stub sources, so that source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/tools/cloudstack_standin tests/tools/dhcp6_router tests/e2e \
 && echo 'fn main() {}' > build.rs && touch src/lib.rs \
 && for f in tests/tools/cloudstack_standin/main.rs tests/tools/dhcp6_router/main.rs tests/e2e/main.rs; do echo 'fn main() {}' > $f; done \
 && . /buildflags.sh && cargo build --release --lib --locked \
 && rm -rf src build.rs target/release/.fingerprint/kea-cloudstack-* target/release/build/kea-cloudstack-*
COPY build.rs ./
COPY cpp-shim cpp-shim
COPY src src
RUN . /buildflags.sh && cargo build --release --lib --locked --features kea \
 && cp target/release/libdhcp_cloudstack.so /libdhcp_cloudstack.so

# The Debian package. cloudstack-kea is built without the `kea` feature (it needs no Kea), which rebuilds
# target/release/libdhcp_cloudstack.so without the shim: the hook packaged is the one copied out above.
FROM build AS deb
RUN . /buildflags.sh && cargo build --release --locked --bin cloudstack-kea
COPY packaging/deb packaging/deb
COPY README.md ./
COPY kea-config kea-config
RUN packaging/deb/build-deb.sh /libdhcp_cloudstack.so target/release/cloudstack-kea /out "$(cat /kea-suite)"

# Debian's Kea and nothing of this project: the very kea-dhcp6-server the hook was built against (kea-common
# holds its libraries), and ca-certificates (the system trust store the hook verifies the API against).
FROM kea-suite AS debian-kea
COPY --from=build /kea-version /kea-version
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t "$(cat /kea-suite)" \
      "kea-dhcp6-server=$(cat /kea-version)" \
 && rm -rf /var/lib/apt/lists/* \
 && [ "$(dpkg-query -W -f '${Version}' kea-dhcp6-server)" = "$(cat /kea-version)" ] \
 && [ "$(dpkg-query -W -f '${Version}' kea-common)" = "$(cat /kea-version)" ]

# The runtime image: Debian's Kea with the package installed (dpkg refuses it unless every dependency, the exact
# kea-dhcp6-server among them, is already there), kea-admin of the same Kea and psql (the PostgreSQL stories make
# and inspect the lease schema with them), and /run/kea with mode 0750: Kea refuses a unix control socket in a
# directory with another mode (2.6.3) or one allowing more (3.0).
FROM debian-kea
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t "$(cat /kea-suite)" \
      "kea-admin=$(cat /kea-version)" postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && [ "$(dpkg-query -W -f '${Version}' kea-common)" = "$(cat /kea-version)" ]
COPY --from=deb /out/ /tmp/kea-cloudstack-hook/
RUN dpkg -i /tmp/kea-cloudstack-hook/kea-cloudstack-hook_*.deb \
 && rm -rf /tmp/kea-cloudstack-hook \
 && install -d -m 0750 /run/kea && install -d /var/lib/kea
COPY kea-config/kea-dhcp6.conf /etc/kea/kea-dhcp6.conf
CMD ["kea-dhcp6", "-c", "/etc/kea/kea-dhcp6.conf"]
