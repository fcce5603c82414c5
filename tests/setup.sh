#!/bin/bash
# Installs what moose needs to build, run its demo and run its tests on a
# fresh Debian/Ubuntu machine, as root: DPDK from the distribution, clang for
# bindgen, the test peers, Prometheus (tests/prometheus.rs runs the
# dashboard's and the alert rules' queries on a real one), and a Rust
# toolchain if there is none.
set -euo pipefail

packages=(
    build-essential pkg-config clang libclang-dev
    dpdk dpdk-dev libdpdk-dev  # dpdk-dev: dpdk-dumpcap, dpdk-telemetry.py
    iproute2 iputils-ping iputils-arping isc-dhcp-client dnsmasq tcpdump tshark
    python3 python3-scapy curl ca-certificates procps
    prometheus
    etcd-server  # tests/mps_etcd.rs: three members on loopback
    protobuf-compiler libprotobuf-dev  # the etcd client's build compiles etcd's protos (libprotobuf-dev: the well-known google/protobuf/*.proto they import)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Prometheus and etcd start their own servers (:9090, :2379) where
    # systemd runs; the tests start theirs on free ports and need no
    # service left running.
    if [ -d /run/systemd/system ]; then
        for svc in prometheus etcd; do
            if [[ " ${missing[*]} " == *" $svc"* ]]; then
                systemctl disable --now "$svc" >/dev/null 2>&1 || true
            fi
        done
    fi
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
fi
export PATH="$HOME/.cargo/bin:$PATH"
if command -v rustup >/dev/null 2>&1; then
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
    done
fi

pkg-config --exists 'libdpdk >= 22.11' || { echo "setup: DPDK >= 22.11 not found by pkg-config" >&2; exit 1; }
echo "setup: ok (DPDK $(pkg-config --modversion libdpdk), $(cargo --version))"
