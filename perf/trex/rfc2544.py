#!/usr/bin/env python3
"""RFC 2544 throughput (zero-loss rate) of a moose appliance with TRex.

NOT RUN HERE: the development machines have no NIC and no TRex; this is
the procedure for users with both (see perf/RESULTS.md, "Real hardware").
Needs a running TRex server in stateless mode (`./t-rex-64 -i`) whose port
0 is cabled to moose's ingress port and port 1 to its egress port, and the
TRex client library on PYTHONPATH (trex_client/interactive).

    python3 perf/trex/rfc2544.py --server 127.0.0.1 --mode edge \
        --flows 4096 --sizes 64,128,256,512,1024,1280,1518 \
        --trial 10 --final 60 --loss 0

Method (RFC 2544 section 26.1, with MLRsearch's idea, RFC 9567: short
trials while searching, full-length trials only to confirm):

1. For each frame size, offer traffic at a rate and count what port 1
   received against what port 0 sent over the trial; a trial passes when
   the loss ratio is <= --loss (0 = no frame lost).
2. Binary search on the offered rate (percent of line rate) between the
   highest passing and the lowest failing rate, with --trial-second trials,
   until the bounds are within --precision percent.
3. Confirm the highest passing rate with one --final-second trial; if it
   fails, step down by --precision and confirm again.
4. With --latency, a latency stream (TRex flow stats, 1 kpps) runs beside
   the confirmation trial and min / average / max / 99th-percentile
   latencies are printed from TRex's histogram.

Before each frame size, one second of traffic at 1 % lets moose learn the
hosts (edge mode) so that the search measures forwarding, not learning.
Prints one line per frame size, and a JSON list with --json.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    from trex.stl.api import STLClient, STLFlowLatencyStats, STLPktBuilder, STLStream, STLTXCont
except ImportError:  # older TRex releases
    from trex_stl_lib.api import (  # type: ignore[no-redef]
        STLClient,
        STLFlowLatencyStats,
        STLPktBuilder,
        STLStream,
        STLTXCont,
    )

import moose_l2  # noqa: E402  (the profile beside this script)


def trial(c, streams, rate, secs, tx_port=0, rx_port=1):
    """One trial at `rate` percent of line rate: (sent, received)."""
    c.reset(ports=[tx_port, rx_port])
    c.add_streams(streams, ports=[tx_port])
    c.clear_stats()
    c.start(ports=[tx_port], mult=f"{rate}%", duration=secs)
    c.wait_on_traffic(ports=[tx_port])
    st = c.get_stats()
    return st[tx_port]["opackets"], st[rx_port]["ipackets"]


def passes(sent, received, loss):
    return sent > 0 and (sent - received) / sent <= loss


def search(c, streams, args):
    lo, hi = 0.0, 100.0
    sent, received = trial(c, streams, hi, args.trial)
    if passes(sent, received, args.loss):
        lo = hi
    while hi - lo > args.precision:
        mid = (lo + hi) / 2
        sent, received = trial(c, streams, mid, args.trial)
        if passes(sent, received, args.loss):
            lo = mid
        else:
            hi = mid
    rate = lo
    while rate > 0:
        sent, received = trial(c, streams, rate, args.final)
        if passes(sent, received, args.loss):
            return rate, sent, received
        rate = max(0.0, rate - args.precision)
    return 0.0, 0, 0


def latency_stream(mode, size):
    pkt = STLPktBuilder(pkt=moose_l2._base(mode, size, 0))
    return STLStream(
        packet=pkt,
        mode=STLTXCont(pps=1000),
        flow_stats=STLFlowLatencyStats(pg_id=7),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--mode", default="bridge", choices=sorted(moose_l2.PAIRS))
    ap.add_argument("--flows", type=int, default=1)
    ap.add_argument("--sizes", default="64,128,256,512,1024,1280,1518")
    ap.add_argument("--trial", type=float, default=10, help="search trial seconds")
    ap.add_argument("--final", type=float, default=60, help="confirmation trial seconds")
    ap.add_argument("--loss", type=float, default=0.0, help="accepted loss ratio")
    ap.add_argument("--precision", type=float, default=0.5, help="percent of line rate")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    c = STLClient(server=args.server)
    c.connect()
    results = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            profile = moose_l2.MooseL2()
            streams = profile.get_streams(mode=args.mode, flows=args.flows, size=size)
            trial(c, streams, 1, 1)  # learn
            rate, sent, received = search(c, streams, args)
            row = {"size": size, "flows": args.flows, "mode": args.mode,
                   "zero_loss_percent": rate, "sent": sent, "received": received}
            if args.latency and rate > 0:
                lat = latency_stream(args.mode, size)
                trial(c, streams + [lat], rate, args.final)
                ls = c.get_stats()["latency"].get(7, {}).get("latency", {})
                row["latency_us"] = {k: ls.get(k) for k in ("total_min", "average", "total_max")}
                hist = ls.get("histogram", {})
                total = sum(hist.values())
                acc, p99 = 0, None
                for bucket in sorted(hist):
                    acc += hist[bucket]
                    if p99 is None and total and acc >= 0.99 * total:
                        p99 = bucket
                row["latency_us"]["p99_bucket"] = p99
            results.append(row)
            print(f"{args.mode} {size:>5} B {args.flows:>7} flows: zero-loss at {rate:.1f} % "
                  f"of line rate ({received}/{sent} frames in the confirmation trial)")
    finally:
        c.disconnect()
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
