#!/usr/bin/env bash
# Make this machine able to run `make test`: Debian packages, a private dockerd (no bridge,
# no iptables: containers only get the links tests create), and a local debian:trixie base
# image when none can be pulled. Idempotent; run as root.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dhclient >/dev/null || need+=(isc-dhcp-client)
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
if ((${#need[@]})); then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The real relays of tests/e2e/relay_stories.rs (Debian's dnsmasq, ISC dhcrelay, dibbler-relay,
# wide-dhcpv6-relay). The stories run them inside lab namespaces only: while installing, policy-rc.d
# keeps their packages from starting a relay on this host's own network.
relays=()
command -v dnsmasq >/dev/null || relays+=(dnsmasq-base)
command -v dhcrelay >/dev/null || relays+=(isc-dhcp-relay)
command -v dibbler-relay >/dev/null || relays+=(dibbler-relay)
command -v dhcp6relay >/dev/null || relays+=(wide-dhcpv6-relay)
if ((${#relays[@]})); then
    echo "setup: installing ${relays[*]} (no service started)"
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=true
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${relays[@]}" >/dev/null
    if $own_policy; then rm -f "$policy"; fi
fi

if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd (--bridge=none --iptables=false)"
    nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/kc-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/kc-dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect debian:trixie >/dev/null 2>&1; then
    if ! timeout 120 docker pull debian:trixie >/dev/null 2>&1; then
        echo "setup: no registry; making debian:trixie with debootstrap"
        mirror=$(grep -h -o 'http[s]*://[^ ]*debian/*$' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        root=$(mktemp -d /tmp/kc-trixie.XXXXXX)
        debootstrap --variant=minbase trixie "$root" "$mirror" >/tmp/kc-debootstrap.log 2>&1
        tar -C "$root" -c . | docker import - debian:trixie >/dev/null
        rm -rf "$root"
    fi
fi
# Real DHCPv6 clients for the client stories (tests/e2e/client_stories.rs). Only the programs: dhcpcd-base
# without dhcpcd5's service; wide-dhcpv6-client told to start on no interface (its debconf default is eth0);
# the stories run both in namespaces of their own, with their own state paths.
clients=()
command -v dhcpcd >/dev/null || clients+=(dhcpcd-base)
command -v dhcp6c >/dev/null || clients+=(wide-dhcpv6-client)
if ((${#clients[@]})); then
    echo "setup: installing ${clients[*]}"
    echo "wide-dhcpv6-client wide-dhcpv6-client/interfaces string " | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${clients[@]}" >/dev/null
fi
# udhcpc6 is in trixie's busybox, not in bookworm's (1.35 has no udhcpc6 applet): trixie's busybox-static,
# unpacked from debian:trixie's apt, beside the host's programs (KC_TRIXIE_BUSYBOX in the stories).
busybox_dir=/usr/local/lib/kea-cloudstack-tests
if ! "$busybox_dir/busybox" udhcpc6 --help >/dev/null 2>&1; then
    echo "setup: fetching trixie's busybox-static into $busybox_dir"
    mkdir -p "$busybox_dir"
    docker run --rm --network host -v "$busybox_dir:/out" debian:trixie sh -ec '
        cd /tmp && apt-get update -qq >/dev/null && apt-get download -qq busybox-static >/dev/null
        dpkg-deb -x busybox-static_*.deb root && cp root/usr/bin/busybox /out/busybox
        dpkg-deb -f busybox-static_*.deb Version > /out/busybox.version'
fi
echo "setup: ready"
