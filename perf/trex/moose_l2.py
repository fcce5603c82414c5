"""TRex stateless profile for moose: L2 traffic with MAC sweeps.

NOT RUN HERE: the development machines have no NIC and no TRex. This is
for users with a TRex box cabled to a moose appliance (two ports: TRex
port 0 -> moose edge/bridge port, moose's other port -> TRex port 1).
Written against the TRex v3.x STL API (trex_stl_lib); load it with

    trex-console> start -f perf/trex/moose_l2.py -m 100% --port 0 \
                  -t mode=edge,flows=4096,size=64

Tunables (-t key=value,...):

  mode   bridge | edge | fabric                          (default bridge)
         bridge: sources 00:16:3e:00:HH:HH, destinations 00:16:3e:01:HH:HH
                 (learnt on the far side first: send the reverse stream
                 for a second, or add static FDB entries, so that nothing
                 floods);
         edge:   hosts 00:16:3e:00:HH:HH on an edge port, destinations the
                 MOOSE addresses of remote hosts 02:22:22:00:HH:HH (a
                 [[route]] or the fabric's LSDB must reach 02:22:22/24);
         fabric: frames as a neighbour switch sends them, from
                 02:22:22:00:HH:HH to this switch's hosts 02:11:11:00:HH:HH
                 (the hosts must exist: let them send first).
  flows  distinct (src, dst) MAC pairs, 1..1,000,000          (default 1)
  size   64 | 512 | 1518 | imix (7:4:1 of 64, 594, 1518)       (default 64)
  vlan   0 = untagged, else an 802.1Q tag with this VLAN id   (default 0)

The field engine steps the low four bytes of the source and of the
destination MAC together (two counters of the same period), so pair i is
(src base + i, dst base + i) and the FDB / host table / LPM see exactly
`flows` distinct pairs — also `flows` distinct hosts on each side, the
tables' worst case — repeating in order. Sizes are frame lengths with FCS, as TRex and RFC 2544 count them.

The same parameters drive `moose gen` (a capture of the same traffic for
the in-memory and net_pcap benchmarks here) so that figures measured with
TRex on hardware and with perf/compare.sh on this VM describe the same
traffic.
"""

from trex_stl_lib.api import (  # type: ignore[import-not-found]
    STLFlowStats,
    STLPktBuilder,
    STLProfile,
    STLStream,
    STLTXCont,
    STLVM,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

# Frame lengths with FCS; TRex builds frames without it.
IMIX = [(64, 7), (594, 4), (1518, 1)]

PAIRS = {
    "bridge": ("00:16:3e:00:00:00", "00:16:3e:01:00:00"),
    "edge": ("00:16:3e:00:00:00", "02:22:22:00:00:00"),
    "fabric": ("02:22:22:00:00:00", "02:11:11:00:00:00"),
}


def _base(mode: str, size: int, vlan: int):
    src, dst = PAIRS[mode]
    l2 = Ether(src=src, dst=dst)
    if vlan:
        l2 = l2 / Dot1Q(vlan=vlan)
    pkt = l2 / IP(src="10.0.0.1", dst="10.1.0.1") / UDP(sport=1024, dport=1024)
    pad = max(0, size - 4 - len(pkt))
    return pkt / (b"\x00" * pad)


def _low32(mac: str) -> int:
    """Bytes 2..5 of a MAC as a big-endian integer."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    return int.from_bytes(b[2:], "big")


def _vm(mode: str, flows: int) -> STLVM:
    """Two counters of one period over bytes 2..5 of both MACs.

    Destination bytes 2..5 sit at offset 2, source bytes 2..5 at offset 8
    (4-byte big-endian writes); each counter starts one above its base
    address, so the addresses keep their prefixes (00:16:3e..., 02:22:22...).
    """
    src, dst = PAIRS[mode]
    vm = STLVM()
    for name, base, offset in (("src", _low32(src), 8), ("dst", _low32(dst), 2)):
        vm.var(name=name, min_value=base + 1, max_value=base + flows, size=4, op="inc", step=1)
        vm.write(fv_name=name, pkt_offset=offset)
    return vm


class MooseL2:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = dict(mode="bridge", flows="1", size="64", vlan="0")
        for kv in (tunables or []):
            if "=" in kv:
                k, v = kv.split("=", 1)
                t[k] = v
        t.update({k: str(v) for k, v in kwargs.items()})
        mode = t["mode"]
        if mode not in PAIRS:
            raise ValueError(f"mode={mode}: bridge, edge or fabric")
        flows = int(t["flows"])
        if not 1 <= flows <= 1_000_000:
            raise ValueError(f"flows={flows}: 1 to 1000000")
        vlan = int(t["vlan"])
        sizes = IMIX if t["size"] == "imix" else [(int(t["size"]), 1)]
        streams = []
        for i, (size, weight) in enumerate(sizes):
            pkt = STLPktBuilder(pkt=_base(mode, size, vlan), vm=_vm(mode, flows))
            streams.append(
                STLStream(
                    packet=pkt,
                    mode=STLTXCont(percentage=100.0 * weight / sum(w for _, w in sizes)),
                    flow_stats=STLFlowStats(pg_id=i) if t.get("stats") == "1" else None,
                )
            )
        return STLProfile(streams).get_streams()


def register():
    return MooseL2()
