#!/bin/bash
# Builds the Debian package kea-cloudstack-hook for the Kea of this machine and checks it with lintian.
#
#   packaging/deb/build-deb.sh HOOK.so CLOUDSTACK-KEA OUTDIR [DISTRIBUTION]
#
# HOOK.so is libdhcp_cloudstack.so built with `cargo build --release --lib --features kea` against the installed
# kea-dev, CLOUDSTACK-KEA the tool (`cargo build --release --bin cloudstack-kea`). Run it from the source tree on
# Debian with kea-dev (the very Kea the hook was compiled against), dpkg-dev and lintian: the Dockerfile's deb
# stage does, and so can an operator's machine building for its own Kea. It writes
#   OUTDIR/kea-cloudstack-hook_<crate version>+kea<Kea version>_<arch>.deb
#   OUTDIR/kea-cloudstack-hook_<crate version>+kea<Kea version>_<arch>.lintian   (lintian's whole output)
# and fails when lintian reports an error. DISTRIBUTION (the changelog's; default: this system's codename) is the
# suite Kea came from, e.g. trixie-backports.
set -euo pipefail
umask 022

die() { echo "build-deb: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: $0 HOOK.so CLOUDSTACK-KEA OUTDIR [DISTRIBUTION]"
hook=$(realpath "$1") cli=$(realpath "$2") out=$3
distribution=${4:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
here=$(cd "$(dirname "$0")" && pwd)
source_tree=$(pwd)
package=kea-cloudstack-hook
[ -f Cargo.toml ] && [ -f README.md ] && [ -f kea-config/kea-dhcp6.conf ] || die "run me from the source tree"

# The Kea the hook was compiled against: kea-dev's Debian version (kea-dhcp6-server comes from the same source
# package, with the same version) and its upstream release, e.g. 2.6.3-1+deb13u1 -> 2.6.3, 3.0.3-1~bpo13+1 -> 3.0.3.
kea_debian=$(dpkg-query -W -f '${Version}' kea-dev 2>/dev/null) || die "kea-dev is not installed"
kea_upstream=$(expr "${kea_debian#*:}" : '\([0-9][0-9.]*[0-9]\)') || die "cannot read a Kea release in '$kea_debian'"
# ... and the same release as the headers' KEA_HOOKS_VERSION (what the hook's version() returns): 2.6.3 -> 20603.
hooks_h=${KEA_INCLUDE:-/usr/include/kea}/hooks/hooks.h
hooks_version=$(sed -n 's/^ *const int KEA_HOOKS_VERSION *= *\([0-9]*\);.*/\1/p' "$hooks_h")
IFS=. read -r major minor patch <<<"$kea_upstream"
[ "$hooks_version" = "$((major * 10000 + minor * 100 + patch))" ] \
    || die "$hooks_h says KEA_HOOKS_VERSION $hooks_version, kea-dev is $kea_debian: not one Kea release"

# The crate's version (a semver pre-release "-rc.1" sorts before the release in Debian as "~rc.1").
crate_version=$(awk -F'"' '/^\[/ { in_package = ($0 == "[package]") }
                           in_package && $1 ~ /^version *= *$/ { print $2; exit }' Cargo.toml)
[ -n "$crate_version" ] || die "no version in Cargo.toml's [package]"
version="${crate_version//-/\~}+kea$kea_upstream"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb="${package}_${version}_${arch}.deb"

# The changelog's newest entry is the crate's version; the package's is that version for this Kea.
read -r changelog_package changelog_version _ < "$here/changelog"
[ "$changelog_package $changelog_version" = "$package (${crate_version//-/\~})" ] \
    || die "packaging/deb/changelog starts with '$changelog_package $changelog_version', not '$package ($crate_version)': add an entry"

# Kea's hooks directory, where Kea 2.6.3 and 3.0 load hooks from; kea-common owns it.
hooks_dir=/usr/lib/$multiarch/kea/hooks
dpkg-query -S "$hooks_dir" >/dev/null 2>&1 || die "$hooks_dir belongs to no installed package: is this Kea's hooks directory?"
doc=/usr/share/doc/$package

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/debian/$package
mkdir -p "$work/debian"
cp "$here/control" "$work/debian/control"
sed "1s/^$package ([^)]*) [^;]*;/$package ($version) $distribution;/" "$here/changelog" > "$work/debian/changelog"
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$work/debian/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

install -d "$root$hooks_dir" "$root/usr/bin" "$root$doc/examples" "$root/usr/share/man/man1"
# Stripped as dh_strip does (Debian ships no debugging symbols in the package itself).
install -m 0644 "$hook" "$root$hooks_dir/libdhcp_cloudstack.so"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root$hooks_dir/libdhcp_cloudstack.so"
install -m 0755 "$cli" "$root/usr/bin/cloudstack-kea"
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/cloudstack-kea"
# Every commented configuration of kea-config/ (kea-dhcp6.conf, and those of the HA roles and a shared
# PostgreSQL database), uncompressed so that an operator can copy one to /etc/kea as it is.
install -m 0644 "$source_tree"/kea-config/*.conf "$root$doc/examples/"
gzip -9n < "$source_tree/README.md" > "$root$doc/README.md.gz"
# A native package (the packaging lives with the sources; no Debian revision): Debian names its changelog changelog.gz.
gzip -9n < "$work/debian/changelog" > "$root$doc/changelog.gz"
gzip -9n < "$here/cloudstack-kea.1" > "$root/usr/share/man/man1/cloudstack-kea.1.gz"

# copyright: the project's, and the crates linked statically into the hook and the tool (normal dependencies of
# the crate with the features the hook is built with; not build or test ones, nor procedural macros, which only
# run in the compiler).
crates=$(cargo tree --locked --offline --edges normal,no-proc-macro --features kea --prefix none --format '{p} {l}' \
             | sed 's/ (\*)$//' | grep -v '^kea-cloudstack ' | sort -u) \
    || die "cargo tree failed"
[ -n "$crates" ] || die "cargo tree listed no crates"
crate_lines=$(sed 's/^/  /' <<<"$crates")
awk -v crates="$crate_lines" '$0 == "@CRATES@" { print crates; next } { print }' "$here/copyright" \
    > "$root$doc/copyright"
chmod 0644 "$root$doc/copyright"

mkdir -p "$root/DEBIAN"
(
    cd "$work"
    # Shared-library dependencies of both binaries: libc6, libgcc-s1, libstdc++6, and kea-common (= the version)
    # through its shlibs file. Symbols the hook takes from kea-dhcp6 itself are not a library's.
    dpkg-shlibdeps -T"debian/$package.substvars" -e"debian/$package/usr/bin/cloudstack-kea" \
        -e"debian/$package$hooks_dir/libdhcp_cloudstack.so" 2> >(grep -v 'symbol .* used by .* found in none of the libraries' >&2)
    dpkg-gencontrol -p"$package" -P"$root" -T"debian/$package.substvars" -v"$version" -V"kea:Version=$kea_debian"
)
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
# Every file dated by the changelog entry: the same sources and Kea give the same package.
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/$deb" >/dev/null
echo "build-deb: $out/$deb"
dpkg-deb --info "$out/$deb" | sed -n '/^ Package:/,$p'
dpkg-deb --contents "$out/$deb"

# lintian's whole output (errors, warnings and information) is kept beside the package; an error fails the build.
status=0
# (As root lintian only complains about being root: it runs as nobody then.)
as_user=()
[ "$(id -u)" != 0 ] || as_user=(runuser -u nobody -- env HOME=/tmp)
"${as_user[@]}" lintian --display-info --fail-on error "$(realpath "$out/$deb")" > "$out/${deb%.deb}.lintian" 2>&1 \
    || status=$?
echo "build-deb: lintian $deb (exit status $status):"
if [ -s "$out/${deb%.deb}.lintian" ]; then cat "$out/${deb%.deb}.lintian"; else echo "(no tags)"; fi
[ "$status" = 0 ] || die "lintian reports an error (exit status $status)"
