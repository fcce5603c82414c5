#!/usr/bin/env bash
# deploy/build-deb.sh — the moose Debian package, with dpkg-deb: the binary,
# the systemd unit, a starting config (a conffile), the documentation, and
# the monitoring files in /usr/share/moose: a Grafana dashboard, a
# Prometheus scrape config and its alert rules (README, "Monitoring with
# Prometheus and Grafana").
#
# Usage (from the repo root):
#   deploy/build-deb.sh                          # cargo build --release first
#   MOOSE=target/release/moose OUT=/tmp deploy/build-deb.sh
#
# Environment:
#   MOOSE    the binary to package (default: target/release/moose, built by
#            `cargo build --release` when it is missing or BUILD=1)
#   OUT      where the .deb goes (default: target/deb)
#   BUILD    1 = cargo build --release first (default 0)
# Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build-deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"

MOOSE=${MOOSE:-target/release/moose}
OUT=${OUT:-target/deb}
if [[ ${BUILD:-0} == 1 || ! -x $MOOSE ]]; then
    cargo build --release >&2
    MOOSE=target/release/moose
fi
[[ -x $MOOSE ]] || die "$MOOSE is not an executable"

VERSION=$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

install -D -m 0755 "$MOOSE" "$STAGE/usr/bin/moose"
# Debug information stays out of the package (as Debian's dh_strip does);
# keep target/release/moose for profiling.
if command -v strip >/dev/null; then
    strip --strip-debug "$STAGE/usr/bin/moose"
fi
install -D -m 0644 deploy/moose.service "$STAGE/lib/systemd/system/moose.service"
install -D -m 0644 deploy/moose.toml "$STAGE/etc/moose/moose.toml"
install -D -m 0644 configs/example.toml "$STAGE/usr/share/doc/moose/example.toml"
install -D -m 0644 README.md "$STAGE/usr/share/doc/moose/README.md"
# Side by side, as prometheus.yml names its rule file by a relative path.
for f in grafana-dashboard.json prometheus.yml moose-alerts.yml; do
    install -D -m 0644 "deploy/$f" "$STAGE/usr/share/moose/$f"
done
install -d -m 0750 "$STAGE/var/lib/moose"

# Depends: the packages of the shared libraries the binary links, and
# dpdk (the poll-mode drivers DPDK loads at start, and dpdk-devbind).
deps=()
while read -r lib; do
    [[ -n $lib ]] || continue
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [[ -n $pkg ]] && deps+=("$pkg")
done < <(ldd "$MOOSE" | awk '$3 ~ /^\// {print $3}')
deps+=(dpdk)
DEPENDS=$(printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: moose
Version: $VERSION
Architecture: $ARCH
Maintainer: moose developers <moose@localhost>
Depends: $DEPENDS
Section: net
Priority: optional
Description: DPDK MAC-routing switch appliance
 moose gives the hosts of each switch hierarchical, location-carrying MAC
 addresses and routes on MAC prefixes between switches with a link-state
 protocol (MOOSE), on DPDK poll-mode drivers.
CONTROL
echo "/etc/moose/moose.toml" >"$STAGE/DEBIAN/conffiles"
cat >"$STAGE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
POSTINST
chmod 0755 "$STAGE/DEBIAN/postinst"

mkdir -p "$OUT"
DEB=$OUT/moose_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
