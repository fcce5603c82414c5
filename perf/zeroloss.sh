#!/usr/bin/env bash
# perf/zeroloss.sh — RFC 2544 zero-loss throughput (NDR) and partial drop
# rate (PDR, 0.5 % loss) over net_memif, with latency percentiles: the
# generator `moose bench zeroloss` (one process: paced tx on one memif
# port, rx and latency on the other) against a device under test in a
# second process — dpdk-testpmd --forward-mode=io (the baseline), moose's
# learning bridge, moose's MOOSE edge — alternately, ROUNDS rounds, then
# medians, min–max and every device's ratio to the baseline of the same
# rounds. A benchmark, not a test: it exits non-zero only when a run fails
# (a process died, no report), never because of a rate.
#
# Usage (as root, from the repo root):
#   perf/zeroloss.sh
#   DUTS="io bridge" ROUNDS=5 FLOWS=4096 perf/zeroloss.sh
#
# Environment:
#   DUTS        devices under test, in the order of each round (default
#               "io bridge edge"): io = dpdk-testpmd --forward-mode=io,
#               mac = dpdk-testpmd --forward-mode=mac, bridge = moose
#               bridge with every destination a static FDB entry on p1,
#               edge = moose edge, p0 edge port (the capture's sources
#               become hosts in the warm-up trial), p1 fabric port with a
#               static route to the destinations' prefix. The first one
#               is the baseline of the ratios.
#   ROUNDS      rounds (default 3)
#   FLOWS       distinct (source, destination) pairs of the capture
#               (default 64): `moose gen --switches 2 --switch 0
#               --hosts-per-switch min(FLOWS, 4096) --flows FLOWS --mix
#               remote=100 --size SIZE` (the bridge's capture with
#               --remote-dst real, the edge's with MOOSE destinations)
#   SIZE        frame length with FCS, 64..1518, or imix (default 64)
#   RSIZE       log2 of the memif rings on both sides (default 14: 16,384
#               slots, memif's largest; its default, 10, overflows in the
#               millisecond stalls of a shared 2-core VM, at any rate)
#   TRIAL_MS, FINAL_MS, RESOLUTION, PDR, MAX_MPPS   the search (defaults
#               500, 5000, 0.02, 0.005, 20; see `moose bench zeroloss
#               --help`)
#   MOOSE       moose binary (default target/release/moose, built when
#               BUILD=1, the default)
#   TESTPMD     testpmd binary (default dpdk-testpmd)
#   KEEP_TMP    1 = keep the temp directory (reports, logs, configs)
#
# Cores: the generator runs on core 0 (EAL main lcore), the device's
# forwarding thread on core 1 (testpmd -l 0,1: main lcore 0; moose one
# worker on core 1, control on core 0). Both busy-poll; on a 2-core
# machine the generator shares core 0 with the device's control thread.
set -euo pipefail

PROG=zeroloss.sh
ROUNDS=${ROUNDS:-3}
DUTS=${DUTS:-io bridge edge}
FLOWS=${FLOWS:-64}
SIZE=${SIZE:-64}
RSIZE=${RSIZE:-14}
TRIAL_MS=${TRIAL_MS:-500}
FINAL_MS=${FINAL_MS:-5000}
RESOLUTION=${RESOLUTION:-0.02}
PDR=${PDR:-0.005}
MAX_MPPS=${MAX_MPPS:-20}
TESTPMD=${TESTPMD:-dpdk-testpmd}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}
SECS=2 WARMUP=1    # lib.sh's checks; unused here
METRICS_PORT=${METRICS_PORT:-9483}

# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup
bench_tmp moose-zeroloss
check_size "$SIZE"
[[ $FLOWS =~ ^[0-9]+$ ]] && (( FLOWS >= 1 && FLOWS <= 1000000 )) || die "FLOWS must be 1..1000000"
[[ $RSIZE =~ ^[0-9]+$ ]] && (( RSIZE >= 6 && RSIZE <= 14 )) || die "RSIZE must be 6..14 (memif's log2 ring size)"
for d in $DUTS; do
    case $d in io | mac | bridge | edge) ;; *) die "unknown device under test $d (want io, mac, bridge, edge)" ;; esac
done
read -r TSC TSC_SRC < <(tsc_hz)

H=$(( FLOWS < 4096 ? FLOWS : 4096 ))
GEN=(--switches 2 --switch 0 --hosts-per-switch "$H" --flows "$FLOWS" --mix remote=100 --size "$SIZE")
gen_capture "$TMP/real.pcap" "${GEN[@]}" --remote-dst real
REAL_SUMMARY=$GEN_SUMMARY
gen_capture "$TMP/moose.pcap" "${GEN[@]}"
# The bridge's static FDB: every destination of the capture on p1.
python3 - "$TMP/real.pcap" >"$TMP/static.toml" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off, dsts = 24, set()
while off + 16 <= len(d):
    incl = struct.unpack(e + "IIII", d[off:off + 16])[2]
    dsts.add(d[off + 16:off + 22])
    off += 16 + incl
for m in sorted(x for x in dsts if not x[0] & 1):
    print('[[static_fdb]]\nmac = "%s"\nport = "p1"' % ":".join("%02x" % b for b in m))
EOF

# socket-abstract=no: a file in TMP (not the abstract namespace, the
# default), whose appearance says the device under test is listening.
sock() { echo "net_memif$2,role=$1,socket=$TMP/dut.sock,socket-abstract=no,id=$2,rsize=$RSIZE"; }

moose_cfg() {    # $1 = bridge|edge, $2 = file prefix
    cat <<EOF
[switch]
name = "zeroloss"
[dataplane]
workers = 1
cores = [1]
control_core = 0
idle = "poll"
eal = ["--no-huge", "-m", "1024", "--no-pci", "--no-telemetry", "--file-prefix=$2"]
mbufs = 32767
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
EOF
    if [[ $1 == bridge ]]; then
        printf '[[port]]\nname = "p0"\ndevice = "%s"\n[[port]]\nname = "p1"\ndevice = "%s"\n' "$(sock server 0)" "$(sock server 1)"
        (( H <= 4096 )) || printf '[bridge]\nmax_entries = %d\n' $(( (H + FLOWS) * 2 ))
        cat "$TMP/static.toml"
    else
        cat <<EOF
[moose]
prefix = "02:00:01:00:00:00/24"
[[port]]
name = "p0"
role = "edge"
device = "$(sock server 0)"
[[port]]
name = "p1"
role = "fabric"
device = "$(sock server 1)"
[[route]]
prefix = "02:00:02:00:00:00/24"
port = ["p1"]
[routing]
enabled = false
EOF
    fi
}

dut_ready() {    # $1 = dut, $2 = its log
    case $1 in
        io | mac) grep -q "packet forwarding - ports=" "$2" ;;
        *) curl -sf --max-time 1 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null ;;
    esac
}

# run_dut DUT ROUND: starts the device, runs the search, stops the device;
# the report is $TMP/DUT.ROUND.json.
run_dut() {
    local dut=$1 r=$2 pf=${TAG}-$1$2 log=$TMP/$1.$2.log pid pcap=$TMP/real.pcap gpf=${TAG}-g$1$2
    PREFIXES+=("$pf" "$gpf")
    rm -f "$TMP/dut.sock"
    case $dut in
        io | mac)
            "$TESTPMD" -l 0,1 --no-huge -m 1024 --no-pci --no-telemetry --file-prefix="$pf" \
                --vdev="$(sock server 0)" --vdev="$(sock server 1)" -- \
                --total-num-mbufs=32768 --forward-mode="$dut" --nb-cores=1 --auto-start \
                --stats-period 3600 </dev/null >"$log" 2>&1 &
            ;;
        bridge | edge)
            [[ $dut == bridge ]] || pcap=$TMP/moose.pcap
            moose_cfg "$dut" "$pf" >"$TMP/$dut.toml"
            "$MOOSE" run -c "$TMP/$dut.toml" </dev/null >"$log" 2>&1 &
            ;;
    esac
    pid=$!
    PIDS+=("$pid")
    # Ready: the memif socket exists and the ports are started (testpmd
    # forwards; moose's /metrics answers, which it does after the ports
    # started). A client that connects before the server's ports are
    # started is not let in, and does not try again.
    local deadline=$((SECONDS + 30))
    until [[ -S $TMP/dut.sock ]] && dut_ready "$dut" "$log"; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$dut round $r exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$log" >&2; die "$dut round $r: not ready after 30 s"; }
        sleep 0.2
    done
    # Warm-up at 10,000 frames/s: long enough for the edge to give every
    # source a host id at the default host punt budget (2,000 a second on
    # a port), and for the bridge to learn every source.
    local warm=$(( 1000 + H * 1000 / 1500 ))
    "$MOOSE" bench zeroloss --pcap "$pcap" --tx "$(sock client 0)" --rx "$(sock client 1)" \
        --min-mpps 0.01 --warmup-ms "$warm" --max-mpps "$MAX_MPPS" --trial-ms "$TRIAL_MS" --final-ms "$FINAL_MS" \
        --resolution "$RESOLUTION" --pdr "$PDR" --json -- \
        -l 0 --no-huge -m 512 --no-pci --no-telemetry --file-prefix="$gpf" \
        >"$TMP/$dut.$r.json" 2>"$TMP/$dut.$r.gen.log" ||
        { tail -20 "$TMP/$dut.$r.gen.log" >&2; tail -20 "$log" >&2; die "moose bench zeroloss against $dut round $r failed"; }
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "/var/run/dpdk/$pf" "/var/run/dpdk/$gpf"
    python3 - "$TMP/$dut.$r.json" "$dut" "$r" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def rate(x):
    if x is None:
        return "n/a"
    lat = (x.get("final_trial") or {}).get("latency")
    s = "%.3f Mpps%s" % (x["pps"] / 1e6, " (generator ceiling)" if x["at_generator_ceiling"] else "")
    if lat:
        s += ", latency p50 %.1f / p99 %.1f / max %.0f us" % (lat["p50_ns"] / 1e3, lat["p99_ns"] / 1e3, lat["max_ns"] / 1e3)
    return s
print("# %-6s round %s: NDR %s; PDR %s; generator ceiling %.3f Mpps, %d trials" % (
    sys.argv[2], sys.argv[3], rate(d["ndr"]), rate(d.get("pdr")), d["generator_ceiling_pps"] / 1e6, len(d["trials"])), file=sys.stderr)
EOF
}

echo "# zeroloss.sh: $(cpu_line); TSC $TSC Hz ($TSC_SRC); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# capture: $REAL_SUMMARY; memif rings 2^$RSIZE; trials ${TRIAL_MS} ms, final ${FINAL_MS} ms, resolution $RESOLUTION, PDR loss $PDR"
echo "# devices: $DUTS; $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
    for d in $DUTS; do
        run_dut "$d" "$r"
    done
done

python3 - "$TMP" "$ROUNDS" $DUTS <<'EOF'
import json, statistics, sys
tmp, rounds, duts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
base = duts[0]
def get(dut, r, key):
    d = json.load(open("%s/%s.%d.json" % (tmp, dut, r)))
    x = d.get(key)
    return None if x is None else x
print("%-7s %-4s %10s %19s %8s %10s %10s %9s %s" % ("device", "", "median", "min-max (Mpps)", "ratio", "p50 us", "p99 us", "max us", "ceiling"))
for key in ("ndr", "pdr"):
    for dut in duts:
        xs = [get(dut, r, key) for r in range(1, rounds + 1)]
        if any(x is None for x in xs):
            continue
        pps = [x["pps"] for x in xs]
        bs = [get(base, r, key)["pps"] for r in range(1, rounds + 1)]
        ratios = [a / b for a, b in zip(pps, bs) if b > 0]
        lats = [x["final_trial"]["latency"] for x in xs if x.get("final_trial") and x["final_trial"].get("latency")]
        med = lambda f: statistics.median(f(l) for l in lats) / 1e3 if lats else float("nan")
        ceil = sum(1 for x in xs if x["at_generator_ceiling"])
        print("%-7s %-4s %10.3f %9.3f-%-9.3f %8s %10.1f %10.1f %9.0f %s" % (
            dut, key.upper(), statistics.median(pps) / 1e6, min(pps) / 1e6, max(pps) / 1e6,
            "%.3f" % statistics.median(ratios) if ratios else "n/a",
            med(lambda l: l["p50_ns"]), med(lambda l: l["p99_ns"]), med(lambda l: l["max_ns"]),
            "%d/%d at the generator's ceiling" % (ceil, rounds) if ceil else ""))
ceilings = [json.load(open("%s/%s.%d.json" % (tmp, d, r)))["generator_ceiling_pps"] for d in duts for r in range(1, rounds + 1)]
print("# generator ceiling (offered at %s Mpps): median %.3f Mpps, %.3f-%.3f" % (
    "MAX_MPPS", statistics.median(ceilings) / 1e6, min(ceilings) / 1e6, max(ceilings) / 1e6))
print("# ratio: the device's rate over %s's in the same round, median over rounds; latency: medians of the final trials' percentiles" % base)
EOF
