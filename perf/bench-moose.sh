#!/usr/bin/env bash
# perf/bench-moose.sh — single-core forwarding rate of the MOOSE edge and
# fabric pipelines against dpdk-testpmd (--forward-mode=mac) on identical
# virtual devices, run alternately for several rounds: the method of
# perf/bench-bridge.sh (shared code in perf/lib.sh) with MOOSE configs and
# captures. A benchmark, not a test: it exits non-zero only when a run
# fails (process died, no counters, hosts never appeared), never because
# of a rate or a drop count (those are printed).
#
# Usage (as root, from the repo root):
#   perf/bench-moose.sh                          # both pipelines
#   PIPELINE=edge FLOWS=64 ROUNDS=5 perf/bench-moose.sh
#   PIPELINE=fabric SIZE=imix FLOWS=64 perf/bench-moose.sh      # moose gen
#   PIPELINE=edge SIZE=64 FLOWS=1000000 SECS=3 perf/bench-moose.sh
#
# Environment:
#   PIPELINE      "edge", "fabric", "mix", "both" (default: edge, then
#                 fabric) or "all" (edge, fabric, mix): all rounds of one,
#                 then the next, each with its own testpmd baseline on its
#                 own capture. "mix": p0 edge (source), p1 fabric and p2
#                 edge (sinks); host k on p0 sends every other data frame
#                 to its remote 02:22:22:00:HH:LL (routed to p1) and the
#                 others to its local peer 00:16:3f:00:HH:LL on p2 (at the
#                 MOOSE address a pre-run allocated there: destination
#                 restored), ARP and ND among them as for edge (broadcasts
#                 leave by both ports); its rate is the frames taken in on
#                 p0. testpmd forwards the same capture p0 -> p1
#   ECMP          1 = edge: the remote prefix routed over an ECMP group of
#                 two fabric uplinks p1, p2 (flows hashed over both; the
#                 rate is the frames taken in on p0) (default 0)
#   ROUTING_TABLE 0 = no [routing] table in moose's config (for a MOOSE=
#                 binary from before the routing service) (default 1)
#   ELK           0 = [elk] enabled = false in this binary's config (ARP and
#                 ND forwarded, not taken by the directory); ALSO_ELK=0 the
#                 same for the ALSO binary (unset for one from before ELK)
#   ALSO          another moose binary run in every round too, right after
#                 this one and against the same testpmd run (an interleaved
#                 A/B); ALSO_ROUTING_TABLE=0 for one from before the
#                 routing service
#   ROUNDS        rounds; each round runs the baseline then moose (default 5)
#   SECS          seconds of traffic per run (default 5)
#   WARMUP        seconds not measured after the hosts exist (default 1)
#   FLOWS         hosts (edge: real MACs 00:16:3e:00:HH:LL on p0, each
#                 sending to its own remote 02:22:22:00:HH:LL; fabric:
#                 remote 02:22:22:00:HH:LL to local host HH:LL's MOOSE
#                 address), 1..4000 (default 1); with SIZE, distinct
#                 (source, destination) pairs, 1..1000000 (below)
#   SIZE          the captures written by `moose gen --size SIZE` (a length
#                 with FCS in 64..1518, or imix: 64, 594 and 1518 B as
#                 7:4:1) instead of the script's own; FRAME_LEN, PKTS and
#                 CTRL_EVERY are then not used (all frames IPv4/UDP remote
#                 unicast, --mix remote=100: no control frames), PIPELINE
#                 mix is refused. The fabric moose gen writes for: two
#                 switches of H = min(FLOWS, 65536) hosts each
#                 (--hosts-per-switch is at most 65,536, so 1,000,000 flows
#                 are 65,536 hosts with about 15 peers each); the switch
#                 measured is switch 0, with gen's prefix
#                 02:00:01:00:00:00/24 ([moose] host_quota raised to H when
#                 H > 4096) and [[route]] 02:00:02:00:00:00/24 (switch 1).
#                 edge: `moose gen --switches 2 --switch 0
#                 --hosts-per-switch H --flows FLOWS`, as is: host h
#                 00:16:3e:00:HH:HH to the MOOSE addresses 02:00:02:.. of
#                 switch 1's hosts, routed to p1; its H hosts are allocated
#                 from their first frames in every run. fabric: the same
#                 from `--switch 1` (switch 1's hosts to switch 0's hosts'
#                 MOOSE addresses, every frame for a host of p1); a pre-run
#                 allocates switch 0's H hosts on p1 from one frame each
#                 (gen --flows H --frames H, replayed until all exist) into
#                 a state_dir, and a destination whose MOOSE address is not
#                 the one gen assumed (sequential ids in host order) is
#                 rewritten to the one allocated (the count is printed);
#                 the measured runs restore the hosts from the state_dir.
#                 Both wait for all H hosts (moose_hosts_port), testpmd
#                 replays the same capture, and the mbuf pool and EAL
#                 memory of both hold the capture (lib.sh pool_for)
#   HOST_PPS      the host punt budget ([punt.host] rate_pps and
#                 port_rate_pps, bursts a tenth of it) while the hosts are
#                 allocated, 0 = the default (20,000 / 2,000 a second,
#                 bursts 2,000 / 200; edge refreshes of known hosts take
#                 the same class's budget); the config without it
#                 is reloaded (POST /api/v1/reload) before WARMUP and the
#                 window (default 0, or 1000000 when SIZE is given and H >
#                 1024, the worker's learn cache: beyond it every frame of
#                 a known host offers a refresh, and those crowd out the
#                 first frames of the hosts still unknown: with the default
#                 bursts a pre-run of 65,536 hosts stalled at 60,748 even
#                 at rates of 1,000,000 a second)
#   PKTS          frames in the capture, hosts round-robin (default 64 *
#                 CTRL_EVERY, at least FLOWS; so every host sends both data
#                 and control frames when FLOWS <= 64)
#   CTRL_EVERY    every CTRL_EVERY-th frame is a control frame instead of
#                 IPv4/UDP (default 10, i.e. 10 %; 0 = none). Edge: in turn
#                 an ARP request (broadcast), an ARP reply (to the remote)
#                 and an IPv6 neighbour solicitation with a source
#                 link-layer option (multicast): sender / SLLA rewritten.
#                 Fabric: in turn an ARP reply to the local host (target
#                 restored) and an ARP request (broadcast, flooded as is).
#   FRAME_LEN     IPv4 frame length without FCS (default 60, i.e. 64 on the
#                 wire); ARP frames are 60 bytes, neighbour solicitations 86
#   METRICS_PORT  TCP port of moose's /metrics and API (default 9483)
#   MOOSE, BUILD, TESTPMD, TSC_HZ, KEEP_TMP   as in perf/bench-bridge.sh
#   PROFILE       1 = no benchmark: one moose run per pipeline, sampled by
#                 `perf record -e cpu-clock` over the window, and the
#                 worker's top shared objects, symbols and moose source
#                 lines (perf/attribute.py), as perf/profile-bridge.sh
#
# The pipelines (one worker on core 1, EAL main and slow path on core 0,
# net_pcap infinite_rx source -> net_null sink, as bench-bridge.sh):
#   * edge:   p0 role "edge" (source), p1 role "fabric" (sink),
#             [moose] prefix 02:11:11:00:00:00/24, [[route]]
#             02:22:22:00:00:00/24 -> p1. Every frame's source is
#             translated to the host's MOOSE address, the destination is
#             routed by LPM to p1. Hosts are allocated on their first frame
#             (punted, re-injected); we wait until /api/v1/hosts lists all
#             FLOWS hosts, then WARMUP, then measure.
#   * fabric: p0 role "fabric" (source), p1 role "edge" (sink); the
#             destination (a local host's MOOSE address) is restored to the
#             host's real MAC. The hosts must exist on p1, which receives
#             nothing (net_null), so a short first run with p1 as a one-pass
#             net_pcap source (one frame per host, twice) allocates them in
#             a moose.state_dir; /api/v1/hosts gives each host's MOOSE
#             address, from which the fabric capture is written; every
#             measured run restores them from the same state_dir.
#   * rate: Δ moose_port_tx_packets_total{port="p1"} / Δ time between two
#     scrapes of /metrics SECS-WARMUP apart, as bench-bridge.sh; testpmd's
#     own Tx-pps of port 1 (lib.sh run_testpmd).
#   * cycles/packet two ways: TSC Hz / pps of the one busy core (as
#     bench-bridge.sh), and moose's own figure: the gauge
#     moose_worker_cycles_per_frame{worker="0"} at the end of the run
#     (busy_cycles / busy_frames since start, warm-up and allocation
#     included) and the same ratio over the measured window only (Δ of
#     moose_worker_busy_{cycles,frames}_total), in DPDK's TSC (moose_tsc_hertz).
#   * checks printed per round, over the measured window: Δrx p0, Δtx p1,
#     drops by reason, rewrites (src, dst, arp, nd), punts: a pipeline that
#     drops or punts instead of forwarding shows there.
set -euo pipefail

PIPELINE=${PIPELINE:-both}
ROUNDS=${ROUNDS:-5}
ELK_TABLE=${ELK:-}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
FLOWS=${FLOWS:-1}
CTRL_EVERY=${CTRL_EVERY:-10}
PKTS=${PKTS:-$(( (CTRL_EVERY > 0 ? 64 * CTRL_EVERY : 64) > FLOWS ? (CTRL_EVERY > 0 ? 64 * CTRL_EVERY : 64) : FLOWS ))}
FRAME_LEN=${FRAME_LEN:-60}
METRICS_PORT=${METRICS_PORT:-9483}
BUILD=${BUILD:-1}
TESTPMD=${TESTPMD:-dpdk-testpmd}
KEEP_TMP=${KEEP_TMP:-0}
PROFILE=${PROFILE:-0}

PROG=bench-moose
# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"    # die, bench_setup, run_testpmd, median, ...
case $PIPELINE in
    edge | fabric | mix) PIPES=("$PIPELINE") ;;
    both) PIPES=(edge fabric) ;;
    all) PIPES=(edge fabric mix) ;;
    *) die "PIPELINE must be edge, fabric, mix, both or all (not $PIPELINE)" ;;
esac
# The addresses of the script's own captures, or of moose gen's (SIZE).
MOOSE_PREFIX=02:11:11:00:00:00/24
REMOTE_PREFIX=02:22:22:00:00:00/24
HOST_QUOTA=
GEN=0
if [[ -n ${SIZE:-} ]]; then
    GEN=1
    check_size "$SIZE"
    (( FLOWS >= 1 && FLOWS <= 1000000 )) || die "FLOWS must be 1..1000000 with SIZE"
    [[ $PIPELINE != mix && $PIPELINE != all ]] || die "PIPELINE=$PIPELINE: mix takes no moose gen capture (SIZE)"
    GH=$(gen_hosts "$FLOWS")
    MOOSE_PREFIX=02:00:01:00:00:00/24
    REMOTE_PREFIX=02:00:02:00:00:00/24
    (( GH <= 4096 )) || HOST_QUOTA=$GH
    HOST_PPS=${HOST_PPS:-$(( GH > 1024 ? 1000000 : 0 ))}
    NHOSTS=$GH
else
    (( FLOWS >= 1 && FLOWS <= 4000 )) || die "FLOWS must be 1..4000 (host_quota is 4096)"
    HOST_PPS=${HOST_PPS:-0}
    NHOSTS=$FLOWS
fi
(( FRAME_LEN >= 60 && FRAME_LEN <= 1514 )) || die "FRAME_LEN must be 60..1514"
bench_setup
bench_tmp moose-bench-moose
read -r TSC TSC_SRC < <(tsc_hz)
API=http://127.0.0.1:$METRICS_PORT

# ---- captures --------------------------------------------------------------
# gen_pcap KIND OUT [HOSTS_JSON]: KIND = edge (host -> remote, on an edge
# port), hosts (one IPv4 frame per host, twice: the fabric pre-run) or
# fabric (remote -> local host's MOOSE address, taken from HOSTS_JSON, the
# /api/v1/hosts answer of the pre-run).
gen_pcap() {
    python3 - "$1" "$2" "$FLOWS" "$PKTS" "$FRAME_LEN" "$CTRL_EVERY" "${3:-}" <<'EOF'
import json, struct, sys
kind, path = sys.argv[1], sys.argv[2]
flows, pkts, flen, every = map(int, sys.argv[3:7])
hosts_json = sys.argv[7]

def host(k):      # host k's real MAC and IPv4 address
    return bytes([0x00, 0x16, 0x3e, 0, (k + 1) >> 8, (k + 1) & 0xff]), bytes([10, 1, (k + 1) >> 8, (k + 1) & 0xff])
def local(k):     # host k's local peer, on the other edge port (mix)
    return bytes([0x00, 0x16, 0x3f, 0, (k + 1) >> 8, (k + 1) & 0xff]), bytes([10, 3, (k + 1) >> 8, (k + 1) & 0xff])
def remote(k):    # the remote MOOSE host host k talks to
    return bytes([0x02, 0x22, 0x22, 0, (k + 1) >> 8, (k + 1) & 0xff]), bytes([10, 2, (k + 1) >> 8, (k + 1) & 0xff])
def macb(s):
    return bytes(int(x, 16) for x in s.split(":"))
def mac_str(b):
    return ":".join("%02x" % x for x in b)
def moose_macs(path):   # real MAC -> MOOSE address, from /api/v1/hosts
    data = json.load(open(path))
    entries = data["entries"] if isinstance(data, dict) else data
    return {e["mac"].lower(): macb(e["moose_mac"]) for e in entries}

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def eth(dst, src, etype, payload):
    f = dst + src + struct.pack("!H", etype) + payload
    return f + bytes(max(0, 60 - len(f)))

def ipv4_udp(dst, src, sip, dip):
    ulen = flen - 14 - 20
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 1024, 5001, ulen, 0) + bytes(ulen - 8)    # UDP checksum 0: none
    return eth(dst, src, 0x0800, ip + udp)

def arp(op, dst, src, sha, spa, tha, tpa):
    return eth(dst, src, 0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa)

def ll6(m):       # fe80::/64 with the EUI-64 of MAC m
    return b"\xfe\x80" + bytes(6) + bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:6]

def ns(src_mac, target_mac):
    # Neighbour solicitation from src_mac's link-local address for
    # target_mac's, to the solicited-node group, with a source link-layer
    # option; ICMPv6 checksum valid.
    sip, tip = ll6(src_mac), ll6(target_mac)
    dip = bytes.fromhex("ff0200000000000000000001ff") + tip[13:16]
    body = struct.pack("!BBHI", 135, 0, 0, 0) + tip + bytes([1, 1]) + src_mac
    pseudo = sip + dip + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", csum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + sip + dip
    return eth(b"\x33\x33\xff" + tip[13:16], src_mac, 0x86dd, ip6 + body)

frames = []
if kind == "locals":
    for _ in range(2):
        for k in range(flows):
            (l, lip), (h, hip) = local(k), host(k)
            frames.append(ipv4_udp(b"\xff" * 6, l, lip, hip))
elif kind == "hosts":
    for _ in range(2):
        for k in range(flows):
            (h, hip), (r, rip) = host(k), remote(k)
            frames.append(ipv4_udp(r, h, hip, rip))
elif kind in ("edge", "mix"):
    # mix: every other data frame goes to the host's local peer (at the
    # MOOSE address the pre-run gave it on p2) instead of its remote.
    moose = moose_macs(hosts_json) if kind == "mix" else {}
    nctl = ndata = 0
    for i in range(pkts):
        k = i % flows
        (h, hip), (r, rip), (l, lip) = host(k), remote(k), local(k)
        if every and i % every == every - 1:
            c, nctl = nctl % 3, nctl + 1
            if c == 0:
                frames.append(arp(1, b"\xff" * 6, h, h, hip, bytes(6), rip))
            elif c == 1:
                frames.append(arp(2, r, h, h, hip, r, rip))
            else:
                frames.append(ns(h, r))
        elif kind == "mix" and ndata % 2:
            frames.append(ipv4_udp(moose[mac_str(l)], h, hip, lip))
            ndata += 1
        else:
            frames.append(ipv4_udp(r, h, hip, rip))
            ndata += 1
elif kind == "fabric":
    moose = moose_macs(hosts_json)
    nctl = 0
    for i in range(pkts):
        k = i % flows
        (h, hip), (r, rip) = host(k), remote(k)
        m = moose[mac_str(h)]
        if every and i % every == every - 1:
            c, nctl = nctl % 2, nctl + 1
            if c == 0:
                frames.append(arp(2, m, r, r, rip, m, hip))
            else:
                frames.append(arp(1, b"\xff" * 6, r, r, rip, bytes(6), hip))
        else:
            frames.append(ipv4_udp(m, r, rip, hip))
else:
    sys.exit("unknown capture kind " + kind)
with open(path, "wb") as f:
    # pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack("<IIII", 0, i, len(fr), len(fr)) + fr)
EOF
}

# ---- configs ---------------------------------------------------------------
# moose_config PIPE PREFIX P0_DEVICE P1_DEVICE [STATE_DIR]: the moose config
# of a pipeline on stdout. net_null0 is created in dataplane.eal (devargs
# no-rx=1) and attached by name, as in bench-bridge.sh.
moose_config() {
    local pipe=$1 pf=$2 d0=$3 d1=$4 state=${5:-} d2=${6:-} r0 r1 route
    case $pipe in
        edge | mix) r0=edge r1=fabric route=p1 ;;
        *) r0=fabric r1=edge route=p0 ;;
    esac
    cat <<EOF
[switch]
name = "bench"
[dataplane]
workers = 1
cores = [1]
control_core = 0
idle = "poll"
eal = ["--no-huge", "-m", "$MEM_MB", "--no-pci", "--no-telemetry", "--file-prefix=$pf", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"]
mbufs = $((MBUFS - 1))
[moose]
prefix = "$MOOSE_PREFIX"
EOF
    [[ -z $state ]] || echo "state_dir = \"$state\""
    [[ -z $HOST_QUOTA ]] || echo "host_quota = $HOST_QUOTA"
    cat <<EOF
[[port]]
name = "p0"
role = "$r0"
device = "$d0"
[[port]]
name = "p1"
role = "$r1"
device = "$d1"
EOF
    [[ -z $d2 ]] || printf '[[port]]\nname = "p2"\nrole = "edge"\ndevice = "%s"\n' "$d2"
    if [[ $pipe == edge && ${ECMP:-0} == 1 ]]; then
        # An ECMP group of two fabric uplinks: flows hashed over p1 and p2.
        printf '[[port]]\nname = "p2"\nrole = "fabric"\ndevice = "net_null1"\n'
        route='p1", "p2'
    fi
    cat <<EOF
[[route]]
prefix = "$REMOTE_PREFIX"
port = ["$route"]
EOF
    # The fabric ports are null devices: no neighbour to speak the
    # link-state protocol with, so static routes and broadcasts to every
    # fabric port. (ROUTING_TABLE=0 leaves the table out, for a binary
    # from before the routing service.)
    [[ ${ROUTING_TABLE:-1} == 0 ]] || printf '[routing]\nenabled = false\n'
    # ELK=0: the directory off ([elk] enabled = false): ARP and ND are
    # forwarded as any frame instead of going to the elk service.
    [[ ${ELK_TABLE:-} != 0 ]] || printf '[elk]\nenabled = false\n'
    # HOST_PPS while hosts are allocated (unhost_boost reloads without it).
    # (Bursts too: the default port_burst, 200, caps a port near 200 a ms.)
    (( HOST_PPS == 0 )) || printf '[punt.host]\nrate_pps = %s\nport_rate_pps = %s\nburst = %s\nport_burst = %s\n' \
        "$HOST_PPS" "$HOST_PPS" $((HOST_PPS / 10)) $((HOST_PPS / 10))
    cat <<EOF
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
EOF
}
# moose_config_file CFG ARGS...: moose_config ARGS into CFG, and into
# CFG.base without the HOST_PPS budget (for unhost_boost).
moose_config_file() {
    local cfg=$1
    shift
    moose_config "$@" >"$cfg"
    HOST_PPS=0 moose_config "$@" >"$cfg.base"
}
# unhost_boost CFG TAG: the config without the HOST_PPS budget, reloaded.
unhost_boost() {
    (( HOST_PPS > 0 )) || return 0
    cp "$1.base" "$1"
    local rl
    rl=$(curl -sf --max-time 10 -X POST "$API/api/v1/reload") || die "moose $2: POST /api/v1/reload (the default host budget) failed"
    [[ $rl == *punt.host.rate_pps* ]] || die "moose $2: the reload did not restore the host budget: $rl"
}

# ---- metrics ---------------------------------------------------------------
# scrape FILE: saves /metrics to FILE and prints the midpoint time of the GET.
scrape() {
    local t0 t1
    t0=$(date +%s.%N)
    curl -sf --max-time 5 "$API/metrics" >"$1" || return 1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", (a + b) / 2}'
}
# mval FILE SERIES: the value of one series (exact name{labels}), or "".
mval() { awk -v k="$2" '$1 == k {printf "%.0f", $2; exit}' "$1"; }
# mraw FILE SERIES: the same, unrounded (gauges).
mraw() { awk -v k="$2" '$1 == k {print $2; exit}' "$1"; }
# delta A B SERIES: B - A of one counter.
delta() { echo $(( $(mval "$2" "$3") - $(mval "$1" "$3") )); }
# drops_delta A B: "reason@port=n ..." for every drop series that moved.
drops_delta() {
    awk '$1 ~ /^moose_port_drops_total\{/ {
             match($1, /port="[^"]*"/); p = substr($1, RSTART + 6, RLENGTH - 7)
             match($1, /reason="[^"]*"/); r = substr($1, RSTART + 8, RLENGTH - 9)
             k = r "@" p
             if (FILENAME == ARGV[1]) a[k] = $2; else d[k] = $2 - a[k]
         }
         END {s = ""; for (k in d) if (d[k] != 0) s = s sprintf(" %s=%.0f", k, d[k]); print (s == "" ? " none" : s)}' "$1" "$2"
}
# hosts_json FILE: all hosts (one page) into FILE; prints how many are on p$2.
hosts_json() {
    curl -sf --max-time 2 "$API/api/v1/hosts?limit=10000" >"$1" || { echo 0; return; }
    python3 - "$1" "$2" "${MOOSE_PREFIX:0:8}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
e = d["entries"] if isinstance(d, dict) else d
print(sum(1 for h in e if h["port"] == sys.argv[2] and h["moose_mac"].startswith(sys.argv[3])))
EOF
}
# hosts_metric PORT: moose_hosts_port{port=PORT} (gen captures: up to
# 65,536 hosts, more than one page of /api/v1/hosts).
hosts_metric() {
    local m
    m=$(curl -sf --max-time 2 "$API/metrics") || { echo 0; return; }
    awk -v k="moose_hosts_port{port=\"$1\"}" '$1 == k {printf "%.0f", $2; f = 1} END {if (!f) print 0}' <<<"$m"
}

# start_moose CFG TAG: starts moose, waits for /metrics; sets MPID.
start_moose() {
    local cfg=$1 tag=$2
    # --duration is only a safety net; the run is stopped with SIGTERM.
    "$MOOSE" run -c "$cfg" --json --duration $((SECS + 120 + NHOSTS / 500)) >"$TMP/$tag.json" 2>"$TMP/$tag.log" &
    MPID=$!
    PIDS+=("$MPID")
    local deadline=$((SECONDS + 30 + NFRAMES / 50000))
    until curl -sf --max-time 2 "$API/metrics" >/dev/null 2>&1; do
        kill -0 "$MPID" 2>/dev/null || { tail -20 "$TMP/$tag.log" >&2; die "moose $tag exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$TMP/$tag.log" >&2; die "moose $tag: /metrics never answered"; }
        sleep 0.1
    done
}
# stop_moose TAG PREFIX: SIGTERM, and the exit status must be 0.
stop_moose() {
    kill -TERM "$MPID"
    local rc=0
    wait "$MPID" || rc=$?
    rm -rf "/var/run/dpdk/$2"
    (( rc == 0 )) || { tail -20 "$TMP/$1.log" >&2; die "moose $1 exited with status $rc"; }
}
# wait_hosts PORT TAG: until NHOSTS hosts with MOOSE addresses are on
# PORT; sets HOSTS_SECS (how long it took).
wait_hosts() {
    local t0=$SECONDS limit=$((20 + NHOSTS / 500)) n
    local deadline=$((SECONDS + limit))
    while :; do
        if (( GEN )); then
            n=$(hosts_metric "$1")
        else
            n=$(hosts_json "$TMP/$2.hosts.json" "$1")
        fi
        (( n >= NHOSTS )) && { HOSTS_SECS=$((SECONDS - t0)); return; }
        kill -0 "$MPID" 2>/dev/null || { tail -20 "$TMP/$2.log" >&2; die "moose $2 exited early"; }
        (( SECONDS < deadline )) || die "moose $2: $n of $NHOSTS hosts on $1 after $limit s (see $TMP/$2.hosts.json, KEEP_TMP=1)"
        sleep 0.2
    done
}

# ---- fabric pre-run: the hosts -----------------------------------------------
# One pass of one frame per host (twice) into p1 (edge) allocates the hosts
# in STATE; their MOOSE addresses give the fabric capture.
prepare_fabric_hosts() {
    local pf=${TAG}-pre cfg=$TMP/pre.toml
    STATE=$TMP/state
    mkdir -p "$STATE"
    PREFIXES+=("$pf")
    gen_pcap hosts "$TMP/hosts.pcap"
    moose_config fabric "$pf" net_null0 "net_pcap1,rx_pcap=$TMP/hosts.pcap" "$STATE" >"$cfg"
    start_moose "$cfg" pre
    wait_hosts p1 pre
    stop_moose pre "$pf"
    cp "$TMP/pre.hosts.json" "$TMP/fabric-hosts.json"
    echo "# fabric: $FLOWS hosts allocated on p1 in $STATE by a pre-run; e.g. $(python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); e = d["entries"] if isinstance(d, dict) else d
print(", ".join("%s -> %s" % (h["mac"], h["moose_mac"]) for h in e[:3]) + (", ..." if len(e) > 3 else ""))' "$TMP/fabric-hosts.json")"
}

# ---- moose gen captures (SIZE) ----------------------------------------------------
# gen_edge OUT / gen_fabric_capture OUT: the measured captures, see SIZE.
gen_edge() {
    GEN_ARGS=(--switches 2 --switch 0 --hosts-per-switch "$GH" --flows "$FLOWS" --size "$SIZE" --mix remote=100)
    gen_capture "$1" "${GEN_ARGS[@]}"
    echo "# edge capture: moose gen ${GEN_ARGS[*]}: $GEN_SUMMARY; $GH hosts on p0"
}
# The fabric pre-run: switch 0's GH hosts on p1 (edge), one frame each,
# replayed until all exist, into STATE; their MOOSE addresses give the
# destinations of the fabric capture.
prepare_fabric_hosts_gen() {
    local pf=${TAG}-pre cfg=$TMP/pre.toml
    STATE=$TMP/state
    mkdir -p "$STATE"
    PREFIXES+=("$pf")
    moose_config_file "$cfg" fabric "$pf" net_null0 "net_pcap1,rx_pcap=$TMP/hosts.pcap,infinite_rx=1" "$STATE"
    start_moose "$cfg" pre
    wait_hosts p1 pre
    curl -sf --max-time 60 "$API/api/v1/hosts" >"$TMP/fabric-hosts.json" || die "moose pre: GET /api/v1/hosts failed"
    stop_moose pre "$pf"
    echo "# fabric: $GH hosts allocated on p1 in $STATE by a pre-run in $HOSTS_SECS s"
}
gen_fabric_capture() {
    local raw=$TMP/fabric-gen.pcap
    GEN_ARGS=(--switches 2 --switch 1 --hosts-per-switch "$GH" --flows "$FLOWS" --size "$SIZE" --mix remote=100)
    gen_capture "$raw" "${GEN_ARGS[@]}"
    # Each destination (gen's 02:00:01 + (h+1) for host h = 00:16:3e:00:HH:HH)
    # to the MOOSE address the pre-run gave host h.
    local out
    out=$(python3 - "$raw" "$1" "$TMP/fabric-hosts.json" <<'EOF'
import json, struct, sys
raw, path, hosts = sys.argv[1:4]
d = json.load(open(hosts))
e = d["entries"] if isinstance(d, dict) else d
def macb(s):
    return bytes(int(x, 16) for x in s.split(":"))
actual = {macb(h["mac"]): macb(h["moose_mac"]) for h in e if h["port"] == "p1"}
remap = {}
for real, moose in actual.items():
    if real[:4] == b"\x00\x16\x3e\x00":
        h = int.from_bytes(real[4:6], "big")
        remap[bytes([0x02, 0x00, 0x01]) + (h + 1).to_bytes(3, "big")] = moose
same = sum(1 for k, v in remap.items() if k == v)
n = changed = 0
with open(raw, "rb") as f, open(path, "wb") as out:
    out.write(f.read(24))
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        fr = bytearray(f.read(struct.unpack("<IIII", h)[2]))
        m = remap.get(bytes(fr[0:6]))
        if m is None:
            sys.exit("frame %d: destination %s is no host of the pre-run" % (n, fr[0:6].hex(":")))
        if m != fr[0:6]:
            fr[0:6] = m
            changed += 1
        out.write(h)
        out.write(fr)
        n += 1
print("%d of %d hosts have the MOOSE address gen assumes; %d of %d frames' destinations rewritten to the allocated one" % (same, len(remap), changed, n))
EOF
) || die "the fabric capture: $out"
    echo "# fabric capture: moose gen ${GEN_ARGS[*]}: $GEN_SUMMARY; $out"
}

# ---- mix pre-run: the local peers on p2 ---------------------------------------
prepare_mix_hosts() {
    local pf=${TAG}-premix cfg=$TMP/premix.toml
    STATE=$TMP/state-mix
    mkdir -p "$STATE"
    PREFIXES+=("$pf")
    gen_pcap locals "$TMP/locals.pcap"
    moose_config mix "$pf" net_null0 net_null1 "$STATE" "net_pcap0,rx_pcap=$TMP/locals.pcap" >"$cfg"
    start_moose "$cfg" premix
    wait_hosts p2 premix
    stop_moose premix "$pf"
    cp "$TMP/premix.hosts.json" "$TMP/mix-hosts.json"
    echo "# mix: $FLOWS local peers allocated on p2 in $STATE by a pre-run"
}

# ---- one moose round ----------------------------------------------------------
# run_moose PIPE ROUND: sets RESULT (pps), CPF_GAUGE, CPF_WIN, MTSC, CHECK.
run_moose() {
    local pipe=$1 r=$2 tag=$1.$2 pf=${TAG}-$1$2 cfg=$TMP/$1.$2.toml
    PREFIXES+=("$pf")
    if [[ $pipe == edge ]]; then
        moose_config_file "$cfg" edge "$pf" "net_pcap0,rx_pcap=$PCAP,infinite_rx=1" net_null0
    elif [[ $pipe == mix ]]; then
        moose_config_file "$cfg" mix "$pf" "net_pcap0,rx_pcap=$PCAP,infinite_rx=1" net_null0 "$STATE" net_null1
    else
        moose_config_file "$cfg" fabric "$pf" "net_pcap0,rx_pcap=$PCAP,infinite_rx=1" net_null0 "$STATE"
    fi
    start_moose "$cfg" "$tag"
    # Edge: the hosts are allocated from the first frames; fabric: restored
    # from the state_dir. Either way all FLOWS must be there to measure.
    case $pipe in
        edge) wait_hosts p0 "$tag" ;;
        mix) wait_hosts p2 "$tag"; wait_hosts p0 "$tag" ;;
        *) wait_hosts p1 "$tag" ;;
    esac
    unhost_boost "$cfg" "$tag"
    sleep "$WARMUP"
    local a=$TMP/$tag.a.prom b=$TMP/$tag.b.prom ta tb
    ta=$(scrape "$a") || die "moose $tag: scrape failed"
    if [[ -n ${PERF_DATA:-} ]]; then
        # PROFILE=1: sample the whole process over the window (cpu-clock:
        # no hardware counters on these VMs), as perf/profile-bridge.sh.
        perf record -q -e cpu-clock -p "$MPID" -o "$PERF_DATA" -- sleep $((SECS - WARMUP)) 2>/dev/null
    else
        sleep $((SECS - WARMUP))
    fi
    tb=$(scrape "$b") || die "moose $tag: scrape failed"
    stop_moose "$tag" "$pf"
    local tx rx
    tx=$(delta "$a" "$b" 'moose_port_tx_packets_total{port="p1"}')
    local frames
    if [[ $pipe == mix ]]; then
        # Both ways out: the uplink and the local peers' port. The rate is
        # the frames taken in (a broadcast leaves twice); the check shows
        # that they all went out.
        tx=$((tx + $(delta "$a" "$b" 'moose_port_tx_packets_total{port="p2"}')))
        frames=$(delta "$a" "$b" 'moose_port_rx_packets_total{port="p0"}')
    elif [[ $pipe == edge && ${ECMP:-0} == 1 ]]; then
        # Both uplinks of the group; the rate is the frames taken in (a
        # broadcast leaves by both).
        tx=$((tx + $(delta "$a" "$b" 'moose_port_tx_packets_total{port="p2"}')))
        frames=$(delta "$a" "$b" 'moose_port_rx_packets_total{port="p0"}')
    else
        frames=$tx
    fi
    rx=$(delta "$a" "$b" 'moose_port_rx_packets_total{port="p0"}')
    (( tx > 0 )) || die "moose $tag: tx counter of p1 did not move (drops:$(drops_delta "$a" "$b"))"
    RESULT=$(awk -v t="$frames" -v ta="$ta" -v tb="$tb" 'BEGIN {printf "%.0f\n", t / (tb - ta)}')
    CPF_GAUGE=$(mraw "$b" 'moose_worker_cycles_per_frame{worker="0"}')
    MTSC=$(mval "$b" moose_tsc_hertz)
    CPF_WIN=$(awk -v c="$(delta "$a" "$b" 'moose_worker_busy_cycles_total{worker="0"}')" \
        -v f="$(delta "$a" "$b" 'moose_worker_busy_frames_total{worker="0"}')" \
        'BEGIN {if (f > 0) printf "%.1f", c / f; else print "n/a"}')
    CPF_GAUGE=$(awk -v g="${CPF_GAUGE:-}" 'BEGIN {if (g == "") print "n/a"; else printf "%.1f", g}')
    local w='{worker="0"}' pu
    pu=$(awk '$1 ~ /^moose_punt_sent_total\{/ && $1 !~ /class="learn"/ {s += $2}
              END {printf "%.0f", s}' "$b")
    pu=$((pu - $(awk '$1 ~ /^moose_punt_sent_total\{/ && $1 !~ /class="learn"/ {s += $2}
              END {printf "%.0f", s}' "$a")))
    CHECK="hosts there after ${HOSTS_SECS}s; rx p0 $rx, tx $tx ($([[ $pipe == mix ]] && echo "p1+p2" || echo p1): $(awk -v a="$tx" -v b="$rx" 'BEGIN {printf "%.4f", b ? a / b : 0}') of rx);"
    CHECK+=" rewrites src $(delta "$a" "$b" "moose_worker_rewrite_src_total$w") dst $(delta "$a" "$b" "moose_worker_rewrite_dst_total$w")"
    CHECK+=" arp $(delta "$a" "$b" "moose_worker_rewrite_arp_total$w") nd $(delta "$a" "$b" "moose_worker_rewrite_nd_total$w");"
    CHECK+=" punts (not learn) $pu; drops:$(drops_delta "$a" "$b")"
}

# make_capture PIPE: PCAP for the pipeline (and its hosts, by a pre-run).
make_capture() {
    if (( GEN )); then
        case $1 in
            edge) gen_edge "$PCAP" ;;
            *)
                gen_capture "$TMP/hosts.pcap" --switches 2 --switch 0 --hosts-per-switch "$GH" \
                    --flows "$GH" --frames "$GH" --size 64 --mix remote=100
                prepare_fabric_hosts_gen
                gen_fabric_capture "$PCAP"
                ;;
        esac
        return
    fi
    case $1 in
        edge) gen_pcap edge "$PCAP" ;;
        mix)
            prepare_mix_hosts
            gen_pcap mix "$PCAP" "$TMP/mix-hosts.json"
            ;;
        *)
            prepare_fabric_hosts
            gen_pcap fabric "$PCAP" "$TMP/fabric-hosts.json"
            ;;
    esac
}

# ---- PROFILE=1 ------------------------------------------------------------------
# profile PIPE: one moose run (no baseline) sampled with perf record over
# the measured window; prints the worker's samples by shared object, by
# symbol, and charged to moose source lines (perf/attribute.py), as
# perf/profile-bridge.sh does for the bridge.
profile() {
    local pipe=$1 W=(--comms moose-w0) total
    command -v perf >/dev/null || die "PROFILE=1: perf not found"
    PCAP=$TMP/$pipe.pcap
    make_capture "$pipe"
    PERF_DATA=$TMP/$pipe.perf.data
    run_moose "$pipe" prof
    echo "# profile $pipe: moose $(mpps "$RESULT") Mpps while sampled, $CPF_WIN cyc/frame (window)"
    echo "#   check: $CHECK"
    echo "# samples by thread"
    perf script -i "$PERF_DATA" -F comm 2>/dev/null | sort | uniq -c | sort -rn || true
    echo "# worker: by shared object (% of the worker's samples)"
    perf report -i "$PERF_DATA" "${W[@]}" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -8 || true
    echo "# worker: by symbol"
    perf report -i "$PERF_DATA" "${W[@]}" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | sed 's/  */ /g' | cut -c1-130 | head -25 || true
    total=$(perf script -i "$PERF_DATA" "${W[@]}" -F ip 2>/dev/null | wc -l)
    perf script -i "$PERF_DATA" "${W[@]}" --no-demangle -F ip,sym,symoff,dso 2>/dev/null |
        awk -v b="$MOOSE" 'index($0, "(" b ")") {print $2}' | sort | uniq -c | sort -rn >"$TMP/$pipe.syms.txt" || true
    echo "# worker: moose code by source line (% of the worker's samples)"
    python3 "$REPO/perf/attribute.py" "$MOOSE" "$total" "$TMP/$pipe.syms.txt" 30 || true
    unset PERF_DATA
}

# ---- main ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
minmax() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo / 1e6, hi / 1e6}'; }

# The pool holds the largest capture of a run (lib.sh pool_for): moose
# gen's has max(FLOWS, 4096) frames, the fabric pre-run's GH.
if (( GEN )); then
    NFRAMES=$(( FLOWS > 4096 ? FLOWS : 4096 ))
    pool_for "$NFRAMES"
    echo "# moose MOOSE pipelines vs testpmd: ${PIPES[*]}; $ROUNDS rounds x ${SECS}s (first ${WARMUP}s after the hosts exist not measured), moose gen captures: $FLOWS flow(s) of $GH host(s), size $SIZE, all IPv4/UDP remote unicast; prefix $MOOSE_PREFIX, route $REMOTE_PREFIX$([[ -z $HOST_QUOTA ]] || echo ", host_quota $HOST_QUOTA"); mbufs $MBUFS, EAL -m $MEM_MB; host budget while allocating: $( (( HOST_PPS > 0 )) && echo "$HOST_PPS/s, the default reloaded before the window" || echo default)"
else
    NFRAMES=$PKTS
echo "# moose MOOSE pipelines vs testpmd: ${PIPES[*]}; $ROUNDS rounds x ${SECS}s (first ${WARMUP}s after the hosts exist not measured), $FLOWS host(s), $PKTS frames in the capture, every ${CTRL_EVERY}th a control frame (0 = none), ${FRAME_LEN}B IPv4 frames"
fi
echo "# moose: $MOOSE ($("$MOOSE" --version 2>/dev/null | head -1))"
echo "# testpmd: $(command -v "$TESTPMD")"
echo "# TSC: $TSC Hz ($TSC_SRC); cpu: $(cpu_line); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
SUMMARY=()
for pipe in "${PIPES[@]}"; do
    if [[ $PROFILE == 1 ]]; then
        profile "$pipe"
        continue
    fi
    PCAP=$TMP/$pipe.pcap
    make_capture "$pipe"
    echo "# pipeline $pipe"
    printf '%-6s %-7s %-8s %12s %8s %9s %12s %12s %7s\n' round pipe app pps Mpps TSC/pps moose-cpf moose-cpf-win ratio
    TP=() MO=() RA=() CG=() CW=() AR=() AW=()
    for r in $(seq 1 "$ROUNDS"); do
        run_testpmd "$pipe.$r" "$PCAP"
        tp=$RESULT
        TP+=("$tp")
        printf '%-6s %-7s %-8s %12s %8s %9s\n' "$r" "$pipe" testpmd "$tp" "$(mpps "$tp")" "$(cpp "$tp")"
        run_moose "$pipe" "$r"
        mo=$RESULT
        MO+=("$mo") CG+=("$CPF_GAUGE") CW+=("$CPF_WIN") RA+=("$(ratio "$mo" "$tp")")
        printf '%-6s %-7s %-8s %12s %8s %9s %12s %12s %7s\n' "$r" "$pipe" moose "$mo" "$(mpps "$mo")" "$(cpp "$mo")" \
            "$CPF_GAUGE" "$CPF_WIN" "${RA[-1]}"
        echo "       check: $CHECK"
        if [[ -n ${ALSO:-} ]]; then
            # The other binary, in the same round, against the same testpmd.
            local_moose=$MOOSE local_rt=${ROUTING_TABLE:-1}
            MOOSE=$ALSO ROUTING_TABLE=${ALSO_ROUTING_TABLE:-1} ELK_TABLE=${ALSO_ELK:-}
            run_moose "$pipe" "${r}also"
            MOOSE=$local_moose ROUTING_TABLE=$local_rt ELK_TABLE=${ELK:-}
            AR+=("$(ratio "$RESULT" "$tp")") AW+=("$CPF_WIN")
            printf '%-6s %-7s %-8s %12s %8s %9s %12s %12s %7s\n' "$r" "$pipe" also "$RESULT" "$(mpps "$RESULT")" "$(cpp "$RESULT")" \
                "$CPF_GAUGE" "$CPF_WIN" "${AR[-1]}"
            echo "       check: $CHECK"
        fi
    done
    tpm=$(printf '%s\n' "${TP[@]}" | median)
    mom=$(printf '%s\n' "${MO[@]}" | median)
    cgm=$(printf '%s\n' "${CG[@]}" | awk '$1 != "n/a"' | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    cwm=$(printf '%s\n' "${CW[@]}" | awk '$1 != "n/a"' | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    ram=$(printf '%s\n' "${RA[@]}" | sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    SUMMARY+=("$(printf '%-7s testpmd median %s Mpps (%s, %s cyc/pkt) | moose median %s Mpps (%s, %s cyc/pkt TSC/pps; pipeline %s cyc/frame since start, %s in the window; moose_tsc_hertz %s) | ratio of medians %s, median of round ratios %s (%s)' \
        "$pipe" "$(mpps "$tpm")" "$(printf '%s\n' "${TP[@]}" | minmax)" "$(cpp "$tpm")" \
        "$(mpps "$mom")" "$(printf '%s\n' "${MO[@]}" | minmax)" "$(cpp "$mom")" "$cgm" "$cwm" "$MTSC" \
        "$(ratio "$mom" "$tpm")" "$ram" "${RA[*]}")")
    if [[ -n ${ALSO:-} ]]; then
        arm=$(printf '%s\n' "${AR[@]}" | sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
        awm=$(printf '%s\n' "${AW[@]}" | awk '$1 != "n/a"' | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
        SUMMARY+=("$(printf '%-7s also (%s): median of round ratios %s (%s), pipeline %s cyc/frame in the window; this binary %s (%s), %s' \
            "$pipe" "$ALSO" "$arm" "${AR[*]}" "$awm" "$ram" "${RA[*]}" "$cwm")")
    fi
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: a high figure means others ran too)"
echo "# summary, FLOWS=$FLOWS (Mpps: median (min-max)):"
printf '%s\n' "${SUMMARY[@]}"
