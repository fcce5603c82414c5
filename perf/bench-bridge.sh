#!/usr/bin/env bash
# perf/bench-bridge.sh — single-core forwarding rate of the moose learning
# bridge against dpdk-testpmd (--forward-mode=mac) on identical virtual
# devices, run alternately for several rounds. A benchmark, not a test: it
# exits non-zero only when a run fails (process died, no counters), never
# because of a rate.
#
# Usage (as root, from the repo root):
#   perf/bench-bridge.sh
#   ROUNDS=5 SECS=8 perf/bench-bridge.sh
#   SIZE=imix FLOWS=64 perf/bench-bridge.sh           # a `moose gen` capture
#   SIZE=64 FLOWS=1000000 SECS=3 perf/bench-bridge.sh  # a full FDB of 1M sources
#   PCAP=/tmp/t.pcap perf/bench-bridge.sh              # any capture, as is
#
# Environment:
#   ROUNDS        rounds; each round runs the baseline then moose (default 3)
#   SECS          seconds of traffic per run (default 5)
#   WARMUP        seconds at the start of a run that are not measured (default 1)
#   FLOWS         distinct (src,dst) MAC pairs in the capture (default 1:
#                 02:00:00:00:00:01 -> 02:00:00:00:00:02)
#   PKTS          frames in the capture, flows round-robin (default 64)
#   DST           "known" (default): every destination is a static FDB entry
#                 on p1, the steady state of a bridge (unicast forwarding);
#                 "unknown": destinations are never learned, every frame is
#                 unknown unicast flooded to the single other port
#   FRAME_LEN     frame length without FCS (default 60, i.e. 64 on the wire)
#   SIZE          instead of the script's own capture, one written by
#                 `moose gen --size SIZE` (a length with FCS in 64..1518, or
#                 imix: 64, 594 and 1518 B as 7:4:1) with FLOWS distinct
#                 (source, destination) pairs, 1..1000000, of IPv4/UDP
#                 unicast: H = min(FLOWS, 65536) hosts on switch 0 (gen's
#                 --hosts-per-switch bound), each sending to its own hosts
#                 on 1 + ceil(FLOWS / H) other switches (--remote-dst real,
#                 so every destination a distinct plain MAC), with source
#                 and destination exchanged in every frame: the bridge
#                 learns FLOWS distinct sources on p0 (the side with the
#                 most addresses: at 1,000,000 flows a full FDB, the
#                 analogue of CSIT's l2bdscale1mmaclrn) and forwards to the
#                 H destinations. FRAME_LEN and PKTS are then not used
#   PCAP          replay this capture (classic pcap, Ethernet, untagged;
#                 e.g. from `moose gen`) as is, instead of writing one
#   LEARN_PPS     the learn budget ([punt.learn] rate_pps and port_rate_pps,
#                 bursts a tenth of it) while the sources are learned, 0 =
#                 the default (500,000 / 100,000 a second, bursts 4,096 /
#                 1,024); the config without it is reloaded
#                 (POST /api/v1/reload) before WARMUP and the window
#                 (default 0, or 10000000 when the capture has more than
#                 16,384 sources, so that they are learnt in about a
#                 second: at the default budget 1,000,000 sources on one
#                 port take ≈ 10 s, the port's 100,000 a second — 10.3 s
#                 measured; before refreshes yielded to new sources they
#                 took most of the budget, 997,392 after 60 s)
#   Every capture is read once before the runs: its distinct sources are
#   what the bridge must learn (each moose run waits until the FDB holds
#   all of them, then WARMUP, then measures; the time it took is printed),
#   its distinct unicast destinations that are not also sources the static
#   FDB entries of DST=known; [bridge] max_entries is raised above the
#   default 262,144 when sources + destinations need it, and the mbuf pool
#   and EAL memory of both testpmd and moose hold the capture's frames
#   (lib.sh pool_for).
#   METRICS_PORT  TCP port of moose's /metrics (default 9481)
#   MOOSE         moose binary (default $CARGO_TARGET_DIR/release/moose,
#                 built with `cargo build --release` when BUILD=1)
#   BUILD         1 = run `cargo build --release` first (default 1)
#   TESTPMD       testpmd binary (default dpdk-testpmd)
#   AGAINST       another moose binary to use as the baseline instead of
#                 testpmd (A/B of two builds on the same workload: the
#                 ratio is then moose/AGAINST), e.g. AGAINST=/tmp/moose.old
#   TSC_HZ        override the TSC frequency used for cycles/packet
#   KEEP_TMP      1 = keep the temp directory (logs) for inspection
#
# Method:
#   * testpmd: `-l 0,1` (main lcore 0, one forwarding lcore 1), --stats-period 1.
#     Its per-second "Tx-pps" of port 1 is computed by testpmd from TSC deltas.
#     Sample k covers second k-1..k of forwarding (sample 0 is empty). We keep
#     samples WARMUP+1 .. SECS and report their mean.
#   * moose: one worker on core 1, EAL main and slow path on core 0. Once
#     /metrics answers and the FDB holds every source of the capture
#     (moose_fdb_entries - moose_fdb_static_entries), we wait WARMUP s,
#     scrape moose_port_tx_packets_total
#     {port="p1"}, wait SECS-WARMUP s, scrape again; pps = delta packets /
#     delta wall time (each scrape time-stamped as the midpoint of the curl).
#   * cycles/packet = TSC Hz / pps: one busy forwarding core in both cases.
#     TSC Hz: $TSC_HZ, else the kernel's "tsc: Refined TSC clocksource
#     calibration" or "tsc: Detected ... MHz" from dmesg/journal, else
#     "cpu MHz" of /proc/cpuinfo when the CPU has constant_tsc.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
FLOWS=${FLOWS:-1}
DST=${DST:-known}
PKTS=${PKTS:-64}
FRAME_LEN=${FRAME_LEN:-60}
METRICS_PORT=${METRICS_PORT:-9481}
BUILD=${BUILD:-1}
TESTPMD=${TESTPMD:-dpdk-testpmd}
KEEP_TMP=${KEEP_TMP:-0}

PROG=bench-bridge
# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"    # die, bench_setup, run_testpmd, median, ...
bench_setup
bench_tmp moose-bench
read -r TSC TSC_SRC < <(tsc_hz)

# ---- the capture -----------------------------------------------------------
if [[ -n ${PCAP:-} ]]; then
    [[ -z ${SIZE:-} ]] || die "give PCAP or SIZE, not both"
    [[ -r $PCAP ]] || die "PCAP=$PCAP is not a readable file"
    CAPTURE="$PCAP (given)"
    SWAP=0
elif [[ -n ${SIZE:-} ]]; then
    check_size "$SIZE"
    (( FLOWS >= 1 && FLOWS <= 1000000 )) || die "FLOWS must be 1..1000000 with SIZE"
    GH=$(gen_hosts "$FLOWS")
    GS=$(( 1 + (FLOWS + GH - 1) / GH ))
    GEN_ARGS=(--switches "$GS" --hosts-per-switch "$GH" --flows "$FLOWS" --size "$SIZE" --remote-dst real --mix remote=100)
    PCAP=$TMP/gen.pcap
    gen_capture "$PCAP" "${GEN_ARGS[@]}"
    CAPTURE="moose gen ${GEN_ARGS[*]} ($GEN_SUMMARY), source and destination exchanged"
    SWAP=1
else
PCAP=$TMP/t.pcap
CAPTURE="the script's own: $FLOWS flow(s), $PKTS frames of ${FRAME_LEN}B"
SWAP=0
python3 - "$PCAP" "$FLOWS" "$PKTS" "$FRAME_LEN" <<'EOF'
import struct, sys
path, flows, pkts, flen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert 60 <= flen <= 1514 and flows >= 1 and pkts >= 1
def mac(n):
    return bytes([0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff])
with open(path, "wb") as f:
    # pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(pkts):
        k = i % flows
        src, dst = mac(2 * k + 1), mac(2 * k + 2)    # flow 0: ..:01 -> ..:02
        payload = bytes(flen - 14)
        frame = dst + src + b"\x08\x00" + payload
        f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)))
        f.write(frame)
EOF
fi
# One pass over the capture: the frames, the distinct sources (to learn),
# the static FDB entries of DST=known (distinct unicast destinations that
# are not sources, on p1), and with SWAP=1 the capture rewritten with
# source and destination exchanged.
REPLAY=$PCAP
[[ $SWAP == 0 ]] || REPLAY=$TMP/replay.pcap
read -r NFRAMES NSRC NDST < <(python3 - "$PCAP" "$REPLAY" "$SWAP" "$TMP/static.toml" <<'EOF'
import struct, sys
src_path, out_path, swap, static_path = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
srcs, dsts, n = set(), set(), 0
with open(src_path, "rb") as f, open(out_path if swap else "/dev/null", "wb") as out:
    g = f.read(24)
    magic = g[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("%s: not a classic pcap file" % src_path)
    if struct.unpack(e + "I", g[20:24])[0] != 1:
        sys.exit("%s: not Ethernet (linktype 1)" % src_path)
    out.write(g)
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        incl = struct.unpack(e + "IIII", h)[2]
        fr = f.read(incl)
        if len(fr) < 14:
            sys.exit("%s: frame %d is truncated" % (src_path, n))
        if swap:
            fr = fr[6:12] + fr[0:6] + fr[12:]
            out.write(h)
            out.write(fr)
        dsts.add(fr[0:6])
        srcs.add(fr[6:12])
        n += 1
statics = sorted(d for d in dsts - srcs if not d[0] & 1)
with open(static_path, "w") as st:
    for d in statics:
        st.write('[[static_fdb]]\nmac = "%s"\nport = "p1"\n' % ":".join("%02x" % b for b in d))
print(n, len(srcs), len(statics))
EOF
) || die "could not read the capture $PCAP"
(( NFRAMES > 0 )) || die "the capture $PCAP has no frames"
pool_for "$NFRAMES"
LEARN_PPS=${LEARN_PPS:-$(( NSRC > 16384 ? 10000000 : 0 ))}
MAX_ENTRIES=262144
if (( NSRC + NDST > MAX_ENTRIES * 7 / 8 )); then
    MAX_ENTRIES=$(( (NSRC + NDST) * 9 / 8 ))
fi

# ---- moose -----------------------------------------------------------------
scrape() {    # prints "<unix time> <p1 tx packets>"
    local t0 t1 v
    t0=$(date +%s.%N)
    v=$(curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk '$1 == "moose_port_tx_packets_total{port=\"p1\"}" {printf "%.0f", $2}') || return 1
    t1=$(date +%s.%N)
    [[ -n $v ]] || return 1
    awk -v a="$t0" -v b="$t1" -v v="$v" 'BEGIN {printf "%.6f %s\n", (a + b) / 2, v}'
}

run_moose() {    # $1 = round, $2 = binary, $3 = name for files; sets RESULT (pps)
    local r=$1 bin=$2 pf=${TAG}-$3$1 cfg=$TMP/$3.$1.toml log=$TMP/$3.$1.log out=$TMP/$3.$1.json pid
    PREFIXES+=("$pf")
    cat >"$cfg.base" <<EOF
[switch]
name = "bench"
[dataplane]
workers = 1
cores = [1]
control_core = 0
idle = "poll"
eal = ["--no-huge", "-m", "$MEM_MB", "--no-pci", "--no-telemetry", "--file-prefix=$pf", "--vdev=net_null0,no-rx=1"]  # p1 below finds it by name
mbufs = $((MBUFS - 1))
[bridge]
max_entries = $MAX_ENTRIES
[[port]]
name = "p0"
device = "net_pcap0,rx_pcap=$REPLAY,infinite_rx=1"
[[port]]
name = "p1"
device = "net_null0"
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
EOF
    [[ $DST != known ]] || cat "$TMP/static.toml" >>"$cfg.base"
    cp "$cfg.base" "$cfg"
    if (( LEARN_PPS > 0 )); then
        # Warm-up only: a learn budget that lets every source in; the
        # config without it is reloaded before the window.
        printf '[punt.learn]\nrate_pps = %s\nport_rate_pps = %s\nburst = %s\nport_burst = %s\n' \
            "$LEARN_PPS" "$LEARN_PPS" $((LEARN_PPS / 10)) $((LEARN_PPS / 10)) >>"$cfg"
    fi
    # --duration is only a safety net; the run is stopped with SIGTERM.
    "$bin" run -c "$cfg" --json --duration $((SECS + 90 + NSRC / 5000)) >"$out" 2>"$log" &
    pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 30 + NFRAMES / 50000))
    until scrape >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "moose round $r exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$log" >&2; die "moose round $r: /metrics never answered"; }
        sleep 0.1
    done
    # The bridge learns every source of the capture before the window.
    local t0 learned=0
    t0=$(date +%s.%N)
    deadline=$((SECONDS + 30 + NSRC / 10000))
    while :; do
        learned=$(curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" |
            awk '$1 == "moose_fdb_entries" {e = $2} $1 == "moose_fdb_static_entries" {s = $2}
                 END {printf "%.0f", e - s}') || learned=0
        (( learned >= NSRC )) && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "moose round $r exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$log" >&2; die "moose round $r: $learned of $NSRC sources learned in time"; }
        sleep 0.1
    done
    LEARN_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    if (( LEARN_PPS > 0 )); then
        cp "$cfg.base" "$cfg"
        local rl
        rl=$(curl -sf --max-time 10 -X POST "http://127.0.0.1:$METRICS_PORT/api/v1/reload") ||
            die "moose round $r: POST /api/v1/reload (the default learn budget) failed"
        [[ $rl == *punt.learn.rate_pps* ]] || die "moose round $r: the reload did not restore the learn budget: $rl"
    fi
    sleep "$WARMUP"
    local a b
    a=$(scrape) || die "moose round $r: scrape failed"
    sleep $((SECS - WARMUP))
    b=$(scrape) || die "moose round $r: scrape failed"
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    rm -rf "/var/run/dpdk/$pf"
    (( rc == 0 )) || { tail -20 "$log" >&2; die "moose round $r exited with status $rc"; }
    if command -v jq >/dev/null; then
        jq -c '[.ports[] | {name, rx: .counters.rx_packets, tx: .counters.tx_packets,
                drops: ([.counters.drops[]] | add)}]' "$out" >"$TMP/$3.$1.summary" 2>/dev/null || true
    fi
    read -r ta va <<<"$a"
    read -r tb vb <<<"$b"
    RESULT=$(awk -v ta="$ta" -v va="$va" -v tb="$tb" -v vb="$vb" \
        'BEGIN {if (vb <= va) exit 1; printf "%.0f\n", (vb - va) / (tb - ta)}') ||
        die "moose round $r: tx counter did not move"
}

# ---- main ------------------------------------------------------------------
if [[ -n ${AGAINST:-} ]]; then
    [[ -x $AGAINST ]] || die "AGAINST=$AGAINST is not an executable"
    BASE=base
    run_base() { run_moose "$1" "$AGAINST" base; }
else
    BASE=testpmd
    run_base() { run_testpmd "$1" "$REPLAY"; }
fi
echo "# moose bridge vs $BASE: $ROUNDS rounds x ${SECS}s (first ${WARMUP}s after the sources are learned not measured), destinations $DST"
echo "# capture: $CAPTURE; $NFRAMES frames, $NSRC distinct sources (learned), $NDST static destinations on p1$([[ $DST == known ]] || echo ' (not installed: DST=unknown)'); [bridge] max_entries $MAX_ENTRIES; mbufs $MBUFS, EAL -m $MEM_MB; learn budget while learning: $( (( LEARN_PPS > 0 )) && echo "$LEARN_PPS/s, the default reloaded before the window" || echo default)"
echo "# moose: $MOOSE ($("$MOOSE" --version 2>/dev/null | head -1))"
if [[ -n ${AGAINST:-} ]]; then
    echo "# base: $AGAINST ($("$AGAINST" --version 2>/dev/null | head -1))"
else
    echo "# testpmd: $(command -v "$TESTPMD")"
fi
echo "# TSC: $TSC Hz ($TSC_SRC); cpu: $(cpu_line)"
printf '%-6s %-8s %12s %8s %10s\n' round app pps Mpps cyc/pkt
TP=()
MO=()
for r in $(seq 1 "$ROUNDS"); do
    run_base "$r"
    p=$RESULT
    TP+=("$p")
    printf '%-6s %-8s %12s %8s %10s\n' "$r" "$BASE" "$p" "$(mpps "$p")" "$(cpp "$p")"
    run_moose "$r" "$MOOSE" moose
    p=$RESULT
    MO+=("$p")
    printf '%-6s %-8s %12s %8s %10s' "$r" moose "$p" "$(mpps "$p")" "$(cpp "$p")"
    printf '   %s sources learned in %s s' "$NSRC" "$LEARN_SECS"
    if [[ -s $TMP/moose.$r.summary ]]; then printf '   final %s' "$(cat "$TMP/moose.$r.summary")"; fi
    echo
done
tpm=$(printf '%s\n' "${TP[@]}" | median)
mom=$(printf '%s\n' "${MO[@]}" | median)
printf 'median %-7s %s pps (%s Mpps, %s cycles/packet)\n' "$BASE" "$tpm" "$(mpps "$tpm")" "$(cpp "$tpm")"
printf 'median %-7s %s pps (%s Mpps, %s cycles/packet)\n' moose "$mom" "$(mpps "$mom")" "$(cpp "$mom")"
echo "ratio moose/$BASE $(awk -v a="$mom" -v b="$tpm" 'BEGIN {printf "%.3f", a / b}')"
