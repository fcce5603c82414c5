# perf/lib.sh — the parts perf/bench-bridge.sh and perf/bench-moose.sh
# share: checks and the moose binary, the temp directory and cleanup, the
# TSC frequency, the testpmd baseline run, medians and cycles/packet
# (perf/bench-spf.sh uses the moose binary and the cpu line only).
# Sourced, not run. The caller sets PROG (its name, for messages) and the
# environment the functions read (ROUNDS, SECS, WARMUP, TESTPMD, BUILD,
# MOOSE, KEEP_TMP, TSC_HZ) before sourcing; see the callers' headers.

die() { echo "$PROG: $*" >&2; exit 1; }

# ---- checks, the moose binary ---------------------------------------------
# Sets REPO and MOOSE (built with `cargo build --release` when BUILD=1 and
# MOOSE is not given).
bench_setup() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (DPDK EAL)"
    (( SECS > WARMUP )) || die "SECS ($SECS) must be greater than WARMUP ($WARMUP)"
    (( ROUNDS >= 1 )) || die "ROUNDS must be >= 1"
    command -v "$TESTPMD" >/dev/null || die "$TESTPMD not found"
    command -v curl >/dev/null || die "curl not found"
    command -v python3 >/dev/null || die "python3 not found"
    moose_binary
}

# REPO and MOOSE alone, for benchmarks that run no DPDK (bench-spf.sh).
moose_binary() {
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [[ -z ${MOOSE:-} ]]; then
        local target=${CARGO_TARGET_DIR:-$REPO/target}
        MOOSE=$target/release/moose
        if [[ $BUILD == 1 ]]; then
            echo "# building: (cd $REPO && cargo build --release)" >&2
            (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
        fi
    fi
    [[ -x $MOOSE ]] || die "moose binary not found at $MOOSE (set MOOSE= or BUILD=1)"
}

# ---- temp directory, processes, cleanup ------------------------------------
# Every started process goes into PIDS, every EAL --file-prefix into
# PREFIXES; both are cleaned up on exit, however the script ends.
bench_tmp() {    # $1 = mktemp template name, e.g. moose-bench
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    TAG=mb$$
    PIDS=()
    PREFIXES=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            sleep 0.5
            kill -KILL "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    for pf in "${PREFIXES[@]}"; do
        rm -rf "/var/run/dpdk/$pf"
    done
    if [[ $KEEP_TMP == 1 ]]; then
        echo "# kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}

# ---- TSC frequency ---------------------------------------------------------
# Prints "<Hz> <source>".
tsc_hz() {
    if [[ -n ${TSC_HZ:-} ]]; then echo "$TSC_HZ env"; return; fi
    local log mhz
    log=$( { dmesg 2>/dev/null || journalctl -k -b 2>/dev/null || true; } | grep -E 'tsc: (Refined TSC clocksource calibration|Detected)' || true)
    mhz=$(grep 'Refined TSC' <<<"$log" | tail -1 | grep -oE '[0-9]+\.[0-9]+ MHz' | cut -d' ' -f1 || true)
    if [[ -n $mhz ]]; then echo "$(awk -v m="$mhz" 'BEGIN{printf "%.0f", m*1e6}') kernel-refined"; return; fi
    mhz=$(grep 'Detected' <<<"$log" | tail -1 | grep -oE '[0-9]+\.[0-9]+ MHz' | cut -d' ' -f1 || true)
    if [[ -n $mhz ]]; then echo "$(awk -v m="$mhz" 'BEGIN{printf "%.0f", m*1e6}') kernel-detected"; return; fi
    if grep -q constant_tsc /proc/cpuinfo; then
        mhz=$(awk -F: '/cpu MHz/{gsub(/ /,"",$2); print $2; exit}' /proc/cpuinfo)
        echo "$(awk -v m="$mhz" 'BEGIN{printf "%.0f", m*1e6}') cpuinfo"; return
    fi
    echo "0 unknown"
}

# ---- mbufs and memory for a capture -----------------------------------------
# net_pcap's infinite_rx holds every frame of the capture in an mbuf of the
# port's pool for the whole run, so a capture of a million frames needs a
# pool of a million mbufs more, in both testpmd and moose. With --no-huge
# a pool object never crosses a 4 KiB page: one 2 KiB-room mbuf takes a
# page. pool_for FRAMES sets MBUFS (testpmd's --total-num-mbufs; moose's
# dataplane.mbufs is MBUFS - 1) and MEM_MB (EAL -m of both): 16384 and
# 1024, as before, for captures up to 4096 frames.
MBUFS=16384
MEM_MB=1024
pool_for() {
    local frames=$1
    MBUFS=$(( frames + 12288 > 16384 ? frames + 12288 : 16384 ))
    MEM_MB=$(( MBUFS > 16384 ? 1024 + (MBUFS + 255) / 256 + 512 : 1024 ))
}

# ---- captures from `moose gen` ---------------------------------------------
# check_size SIZE: dies unless SIZE is what `moose gen --size` takes and the
# cells use: a frame length with FCS in 64..1518, or imix.
check_size() {
    [[ $1 == imix ]] && return
    [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 64 && $1 <= 1518 )) ||
        die "SIZE must be a frame length with FCS in 64..1518, or imix (not $1)"
}
# gen_hosts FLOWS: hosts on the capture's switch for FLOWS distinct (source,
# destination) pairs: one a flow up to 65,536 (moose gen's
# --hosts-per-switch bound), then 65,536 with FLOWS / 65,536 peers each.
gen_hosts() { echo $(( $1 < 65536 ? $1 : 65536 )); }
# gen_capture OUT ARGS...: `moose gen --out OUT ARGS --json`; sets
# GEN_FRAMES and GEN_SUMMARY (one line: frames, flows, sizes).
gen_capture() {
    local out=$1
    shift
    "$MOOSE" gen --out "$out" "$@" --json >"$out.json" 2>"$out.log" ||
        { cat "$out.log" >&2; die "moose gen $* failed"; }
    read -r GEN_FRAMES GEN_SUMMARY < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sizes = ", ".join("%s B x %d" % (k, v) for k, v in sorted(d["sizes"].items(), key=lambda kv: int(kv[0])))
print(d["frames"], "%d frames, %d flows, %s" % (d["frames"], d["flows"], sizes))' "$out.json")
}

# ---- testpmd ---------------------------------------------------------------
# $1 = round (or any tag), $2 = capture; sets RESULT (pps).
# net_pcap0 replays the capture forever into port 0, net_null0 (port 1)
# frees what it is given; --forward-mode=mac forwards 0 -> 1 on lcore 1.
# MBUFS and MEM_MB (pool_for) size the pool and memory.
run_testpmd() {
    local r=$1 pcap=$2 pf=${TAG}-tp$1 log=$TMP/testpmd.$1.log pid need n
    PREFIXES+=("$pf")
    need=$((SECS + 1))    # samples 0..SECS
    : >"$log"
    stdbuf -oL -eL "$TESTPMD" -l 0,1 --no-huge -m "$MEM_MB" --no-pci --no-telemetry \
        --file-prefix="$pf" \
        --vdev="net_pcap0,rx_pcap=$pcap,infinite_rx=1" --vdev=net_null0,no-rx=1 -- \
        --total-num-mbufs="$MBUFS" --forward-mode=mac --nb-cores=1 \
        --auto-start --stats-period 1 </dev/null >"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + SECS + 30 + MBUFS / 10000))    # a big pool takes a while to fill
    while :; do
        n=$(tx_pps_samples "$log" | wc -l)
        (( n >= need )) && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "testpmd round $r exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$log" >&2; die "testpmd round $r: no stats"; }
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true    # testpmd re-raises the signal: status 143
    rm -rf "/var/run/dpdk/$pf"
    RESULT=$(tx_pps_samples "$log" | sed -n "$((WARMUP + 2)),$((SECS + 1))p" |
        awk '{s += $1; n++} END {if (n == 0 || s == 0) exit 1; printf "%.0f\n", s / n}') ||
        { tail -30 "$log" >&2; die "testpmd round $r: zero rate"; }
}

# Tx-pps of port 1, one line per stats period, in order.
tx_pps_samples() {
    { tr -d '\033' <"$1" || true; } | awk '/NIC statistics for port/ {for (i = 1; i <= NF; i++) if ($i == "port") p = $(i + 1)}
                             /Tx-pps:/ && p == 1 {print $2}'
}

# ---- figures ---------------------------------------------------------------
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
cpp() { awk -v hz="$TSC" -v pps="$1" 'BEGIN {if (hz > 0 && pps > 0) printf "%.1f", hz / pps; else print "n/a"}'; }
mpps() { awk -v p="$1" 'BEGIN {printf "%.2f", p / 1e6}'; }
cpu_line() { echo "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores"; }
