#!/usr/bin/env python3
"""A DHCPv6 link-layer address assignment client (RFC 8947), for testing.

Built from the RFCs with scapy and the standard library only. scapy has
the DHCPv6 messages but not RFC 8947's IA_LL (138) and LLADDR (139) nor
RFC 8948's SLAP quadrant option (140): they are defined here as scapy
packet classes and registered with scapy's DHCPv6 option table, so scapy
builds and decodes them like its own. Sockets are ordinary UDP sockets
(no raw sockets).

Transport (one of):

  --iface IF        direct: bind [::]:546 on IF (SO_BINDTODEVICE, or the
                    interface's link-local address when that is not
                    permitted), send to ff02::1:2%IF port 547
                    (All_DHCP_Relay_Agents_and_Servers, RFC 8415 §7.1).
  --server ADDR --relay-bind ADDR [--server-port 547] [--relay-port 547]
  [--link ADDR]     relayed: act as a relay agent (RFC 8415 §19.1.1):
                    wrap each message in a Relay-Forw (hop-count 0,
                    link-address --link (default ::), peer-address fe80::1,
                    Interface-Id "moose-test"), send it from
                    [relay-bind]:relay-port to the server, and unwrap the
                    Relay-Repl, checking that it mirrors the Relay-Forw
                    and echoes the Interface-Id (§19.3).

  --timeout SECS    how long to wait for an answer (default 3); a client
                    exchange is sent again once after a timeout, with the
                    same transaction id and a later Elapsed Time (RFC 8415
                    §15, simplified to one retransmission).

Subcommands (each prints ONE JSON object on stdout; exit 0 on success, 1
when no usable answer came, 3 when the server refused with a status code,
2 for bad arguments; a message on stderr whenever not 0):

  acquire --duid HEX --iaid N [--hint MAC] [--rapid] [--quadrant Q ...]
      Solicit → Advertise → Request → Reply (RFC 8415 §18.2.1, §18.2.2;
      RFC 8947 "Requesting Addresses"): the Solicit's IA_LL holds one
      LLADDR with the hint (all zeros: no hint), extra-addresses 0,
      valid-lifetime 0; the Request carries the Server Identifier and the
      LLADDR of the Advertise. --quadrant (repeatable, RFC 8948) puts a
      quadrant option in the IA_LL, the first quadrant given preferred
      most. --rapid adds Rapid Commit (RFC 8415 §18.2.1, §21.14): a Reply
      ends the exchange (advertised is null); an Advertise instead goes on
      with a Request.
      → {"advertised": mac|null, "mac": mac, "valid": n, "t1": n,
         "t2": n, "server_duid": hex}
  renew --duid HEX --iaid N --mac MAC --server-duid HEX
      Renew → Reply (RFC 8415 §18.2.4; RFC 8947 "Renewing Addresses").
      → {"mac": mac|null, "valid": n|null, "t1": n, "t2": n,
         "status": code-or-0}
  release --duid HEX --iaid N --mac MAC --server-duid HEX
      Release → Reply (RFC 8415 §18.2.7; RFC 8947 "Releasing Addresses").
      → {"status": code}  (the IA_LL's status if it has one, else the
         message's, else 0)
  raw --hex HEX
      Sends the bytes as the UDP payload (unwrapped, also in relayed mode;
      sent once, no retransmission) and waits --timeout for anything.
      → {"answered": bool, "reply_hex": hex|null}
  selftest
      Builds every message this client sends and every answer it reads
      (Advertise, Reply, statuses, Relay-Repl), and decodes each back
      with scapy; checks one IA_LL byte for byte. No network.
      → {"selftest": "ok", "checks": n}

Every message carries Client Identifier, Elapsed Time (§21.9) and, in
Solicit, Request and Renew, an Option Request for SOL_MAX_RT (§18.2.1).

Example:
  rfc8947_client.py acquire --iface veth1 --duid 00030001020000000001 \\
      --iaid 1 --hint 0a:00:00:00:00:42
"""

import argparse
import json
import os
import socket
import sys
import time

from scapy.config import conf
from scapy.fields import (
    ByteField,
    FieldLenField,
    IntEnumField,
    IntField,
    MACField,
    PacketListField,
    ShortEnumField,
    ShortField,
    XIntField,
)
from scapy.packet import NoPayload, Packet, Raw
import scapy.layers.dhcp6 as d6
from scapy.layers.dhcp6 import (
    DHCP6,
    DHCP6_Advertise,
    DHCP6_Release,
    DHCP6_RelayForward,
    DHCP6_RelayReply,
    DHCP6_Renew,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIfaceId,
    DHCP6OptOptReq,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
)

OPTION_IA_LL = 138
OPTION_LLADDR = 139
OPTION_SLAP_QUAD = 140
OPTION_SOL_MAX_RT = 82
INFINITY = 0xFFFFFFFF
LINK_TYPE_ETHERNET = 1
ALL_SERVERS = "ff02::1:2"
RELAY_PEER = "fe80::1"
RELAY_IFACE_ID = b"moose-test"
ZERO_MAC = "00:00:00:00:00:00"


# --- RFC 8947 / RFC 8948 options as scapy classes ---------------------------


class DHCP6OptLLAddr(d6._DHCP6OptGuessPayload):
    """LLADDR (RFC 8947): link-layer-type (2), link-layer-len (2), the
    address, extra-addresses (4), valid-lifetime (4), LLaddr-options.
    Only Ethernet (type 1, 6 octets) is modelled."""

    name = "DHCP6 Link-Layer Address Option"
    fields_desc = [
        ShortEnumField("optcode", OPTION_LLADDR, d6.dhcp6opts),
        FieldLenField(
            "optlen", None, length_of="lladdropts", fmt="!H", adjust=lambda pkt, x: x + 18
        ),
        ShortField("lltype", LINK_TYPE_ETHERNET),
        ShortField("lllen", 6),
        MACField("lladdr", ZERO_MAC),
        IntField("extra", 0),
        IntEnumField("validlft", 0, {INFINITY: "infinity"}),
        PacketListField(
            "lladdropts", [], d6._DHCP6OptGuessPayloadElt, length_from=lambda pkt: pkt.optlen - 18
        ),
    ]

    def guess_payload_class(self, payload):
        # Only ever inside an IA_LL's list: what follows is the next element.
        return conf.padding_layer


class _QuadPref(Packet):
    name = "SLAP quadrant preference"
    fields_desc = [ByteField("quadrant", 0), ByteField("pref", 0)]

    def extract_padding(self, s):
        return b"", s


class DHCP6OptSlapQuad(d6._DHCP6OptGuessPayload):
    """OPTION_SLAP_QUAD (RFC 8948): (quadrant, preference) octet pairs;
    quadrant 0 AAI, 1 ELI, 2 reserved, 3 SAI; a higher preference is
    preferred. It goes inside an IA_LL."""

    name = "DHCP6 SLAP Quadrant Option"
    fields_desc = [
        ShortEnumField("optcode", OPTION_SLAP_QUAD, d6.dhcp6opts),
        FieldLenField("optlen", None, length_of="quads", fmt="!H"),
        PacketListField("quads", [], _QuadPref, length_from=lambda pkt: pkt.optlen),
    ]

    def guess_payload_class(self, payload):
        return conf.padding_layer


class DHCP6OptIA_LL(d6._DHCP6OptGuessPayload):
    """IA_LL (RFC 8947): IAID (4), T1 (4), T2 (4), IA_LL-options (LLADDR,
    Status Code, SLAP quadrant)."""

    name = "DHCP6 Identity Association for Link-Layer Addresses Option"
    fields_desc = [
        ShortEnumField("optcode", OPTION_IA_LL, d6.dhcp6opts),
        FieldLenField("optlen", None, length_of="iallopts", fmt="!H", adjust=lambda pkt, x: x + 12),
        XIntField("iaid", None),
        IntField("T1", 0),
        IntField("T2", 0),
        PacketListField(
            "iallopts", [], d6._DHCP6OptGuessPayloadElt, length_from=lambda pkt: pkt.optlen - 12
        ),
    ]


# scapy finds option classes by name in its dhcp6 module.
for _code, _cls, _label in [
    (OPTION_IA_LL, DHCP6OptIA_LL, "OPTION_IA_LL"),
    (OPTION_LLADDR, DHCP6OptLLAddr, "OPTION_LLADDR"),
    (OPTION_SLAP_QUAD, DHCP6OptSlapQuad, "OPTION_SLAP_QUAD"),
]:
    setattr(d6, _cls.__name__, _cls)
    d6.dhcp6opts_by_code[_code] = _cls.__name__
    d6.dhcp6opts[_code] = _label


# --- building ---------------------------------------------------------------


class Failure(Exception):
    """No usable answer (exit 1)."""


class Refused(Exception):
    """The server answered with a status code (exit 3)."""

    def __init__(self, code, message, extra=None):
        super().__init__(f"status {code}: {message}")
        self.code = code
        self.extra = extra or {}


def ia_ll(iaid, mac=ZERO_MAC, quadrants=()):
    """An IA_LL asking for (or naming) one address: T1 = T2 = 0 (the
    server's choice), extra-addresses 0, valid-lifetime 0 (no wish)."""
    opts = [DHCP6OptLLAddr(lladdr=mac, extra=0, validlft=0)]
    if quadrants:
        n = len(quadrants)
        opts.append(
            DHCP6OptSlapQuad(quads=[_QuadPref(quadrant=q, pref=255 - (255 // n) * i) for i, q in enumerate(quadrants)])
        )
    return DHCP6OptIA_LL(iaid=iaid, T1=0, T2=0, iallopts=opts)


def client_message(cls, xid, duid, iallopts, server_duid=None, rapid=False, oro=True):
    """A client message: Client Identifier, Server Identifier if given,
    Elapsed Time 0, Option Request (SOL_MAX_RT), Rapid Commit, IA_LLs."""
    p = cls(trid=xid) / DHCP6OptClientId(duid=Raw(duid))
    if server_duid is not None:
        p = p / DHCP6OptServerId(duid=Raw(server_duid))
    p = p / DHCP6OptElapsedTime(elapsedtime=0)
    if oro:
        p = p / DHCP6OptOptReq(reqopts=[OPTION_SOL_MAX_RT])
    if rapid:
        p = p / DHCP6OptRapidCommit()
    for ia in iallopts:
        p = p / ia
    return p


def with_elapsed(pkt, hundredths):
    """`pkt` with its Elapsed Time set (RFC 8415 §21.9: hundredths of a
    second since the exchange began, at most 0xffff)."""
    p = pkt.copy()
    o = p.getlayer(DHCP6OptElapsedTime)
    if o is not None:
        o.elapsedtime = min(int(hundredths), 0xFFFF)
    return p


def relay_forw(inner, link):
    """A Relay-Forw around `inner` bytes (RFC 8415 §9, §19.1.1)."""
    return (
        DHCP6_RelayForward(hopcount=0, linkaddr=link, peeraddr=RELAY_PEER)
        / DHCP6OptIfaceId(ifaceid=RELAY_IFACE_ID)
        / DHCP6OptRelayMsg(message=DHCP6(inner))
    )


# --- decoding ---------------------------------------------------------------

SERVER_TYPES = {2: DHCP6_Advertise, 7: DHCP6_Reply, 13: DHCP6_RelayReply}


def decode(data):
    """A server message (Advertise, Reply or Relay-Repl) decoded by scapy."""
    if not data or data[0] not in SERVER_TYPES:
        raise Failure(f"not a server message: type {data[0] if data else None}")
    return SERVER_TYPES[data[0]](data)


def chain(p):
    """The options chained as payloads after `p` (scapy's model of a
    DHCPv6 options area), stopping at padding or the end."""
    while not isinstance(p, NoPayload) and p is not None:
        if isinstance(p, (conf.padding_layer, Raw)):
            raise Failure(f"undecodable bytes in options: {bytes(p).hex()}")
        yield p
        p = p.payload


def options(pkt):
    """A message's options. Callers test them with `type(o) is`, not
    isinstance: scapy's Server Identifier class derives from its Client
    Identifier class."""
    return list(chain(pkt.payload))


def sub_options(lst):
    """The options of a list field (IA_LL-options), flattening elements
    scapy chained."""
    out = []
    for e in lst:
        out.extend(chain(e))
    return out


def unwrap_relay_repl(data, link):
    """The message inside a Relay-Repl, after checking it mirrors our
    Relay-Forw and echoes our Interface-Id (RFC 8415 §19.3)."""
    p = decode(data)
    if not isinstance(p, DHCP6_RelayReply):
        raise Failure(f"expected a Relay-Repl, got {p.name}")
    if p.hopcount != 0 or p.peeraddr != RELAY_PEER or socket.inet_pton(
        socket.AF_INET6, p.linkaddr
    ) != socket.inet_pton(socket.AF_INET6, link):
        raise Failure(f"Relay-Repl does not mirror our Relay-Forw: {p.hopcount} {p.linkaddr} {p.peeraddr}")
    iid = [o for o in options(p) if type(o) is DHCP6OptIfaceId]
    if [o.ifaceid for o in iid] != [RELAY_IFACE_ID]:
        raise Failure(f"Interface-Id not echoed: {[o.ifaceid for o in iid]}")
    msg = [o for o in options(p) if type(o) is DHCP6OptRelayMsg]
    if len(msg) != 1:
        raise Failure("Relay-Repl without exactly one Relay Message")
    return bytes(msg[0].message)


class Answer:
    """What a client reads from an Advertise or Reply."""

    def __init__(self, data):
        p = decode(data)
        if isinstance(p, DHCP6_RelayReply):
            raise Failure("a Relay-Repl to a client that sent no Relay-Forw")
        self.kind = p.msgtype
        self.xid = p.trid
        self.server_duid = None
        self.client_duid = None
        self.rapid = False
        self.status = None
        self.ia = {}
        for o in options(p):
            if type(o) is DHCP6OptServerId:
                self.server_duid = bytes(o.duid)
            elif type(o) is DHCP6OptClientId:
                self.client_duid = bytes(o.duid)
            elif type(o) is DHCP6OptRapidCommit:
                self.rapid = True
            elif type(o) is DHCP6OptStatusCode:
                self.status = (o.statuscode, o.statusmsg.decode("utf-8", "replace"))
            elif type(o) is DHCP6OptIA_LL:
                lladdrs, status = [], None
                for s in sub_options(o.iallopts):
                    if type(s) is DHCP6OptLLAddr:
                        if s.lltype != LINK_TYPE_ETHERNET or s.lllen != 6:
                            raise Failure(f"LLADDR of type {s.lltype}, length {s.lllen}")
                        lladdrs.append(s)
                    elif type(s) is DHCP6OptStatusCode:
                        status = (s.statuscode, s.statusmsg.decode("utf-8", "replace"))
                self.ia[o.iaid] = {"T1": o.T1, "T2": o.T2, "lladdr": lladdrs, "status": status}

    def lease(self, iaid):
        """(mac, valid, t1, t2) of IA_LL `iaid`, or Refused."""
        ia = self.ia.get(iaid)
        if ia is None:
            # RFC 8947: an answer without our IA_LL counts as NoAddrsAvail.
            code, msg = self.status or (2, "no IA_LL in the answer")
            raise Refused(code if code else 2, msg)
        if ia["status"] and ia["status"][0] != 0 or not ia["lladdr"]:
            code, msg = ia["status"] or (2, "IA_LL without an LLADDR")
            raise Refused(code, msg)
        a = ia["lladdr"][0]
        return a.lladdr, a.validlft, ia["T1"], ia["T2"]


# --- transport --------------------------------------------------------------


def resolve(host, port):
    """An IPv6 socket address for `host` (scope `%if` allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise Failure(f"bad IPv6 address {host}: {e}") from e
    return infos[0][4]


def link_local_of(iface):
    """The interface's link-local address, from /proc/net/if_inet6."""
    with open("/proc/net/if_inet6") as f:
        for line in f:
            addr, _idx, _plen, scope, _flags, name = line.split()
            if name == iface and scope == "20":
                return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(addr))
    raise Failure(f"{iface} has no link-local address")


class Transport:
    def __init__(self, args):
        self.timeout = args.timeout
        self.relayed = args.server is not None
        self.link = args.link
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.relayed:
            if args.relay_bind is None:
                raise Failure("--server needs --relay-bind")
            s.bind(resolve(args.relay_bind, args.relay_port))
            self.dest = resolve(args.server, args.server_port)
        else:
            idx = socket.if_nametoindex(args.iface)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
                s.bind(("::", 546))
            except PermissionError:
                s.bind((link_local_of(args.iface), 546, 0, idx))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
            self.dest = (ALL_SERVERS, 547, 0, idx)
        self.sock = s

    def send(self, payload):
        self.sock.sendto(payload, self.dest)

    def recv(self, deadline):
        """The next datagram before `deadline` (time.monotonic()), or None."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
                return data
            except socket.timeout:
                return None

    def exchange(self, pkt, accept):
        """Sends client message `pkt` (wrapped when relayed) and returns the
        first answer `accept` takes (an Answer or None), sending once more
        after a timeout."""
        start = time.monotonic()
        for _attempt in range(2):
            msg = with_elapsed(pkt, (time.monotonic() - start) * 100)
            wire = bytes(relay_forw(bytes(msg), self.link)) if self.relayed else bytes(msg)
            self.send(wire)
            deadline = time.monotonic() + self.timeout
            while True:
                data = self.recv(deadline)
                if data is None:
                    break
                try:
                    inner = unwrap_relay_repl(data, self.link) if self.relayed else data
                    got = accept(Answer(inner))
                except Failure as e:
                    print(f"ignored an answer: {e}", file=sys.stderr)
                    continue
                if got is not None:
                    return got
        raise Failure(f"no answer to {pkt.name} after two tries of {self.timeout} s")


def matching(xid, duid, kinds):
    """An acceptor of answers with our transaction id and client DUID and a
    type in `kinds` (RFC 8415 §16.3, §16.10)."""

    def accept(a):
        if a.xid != xid or a.client_duid != duid or a.kind not in kinds:
            return None
        return a

    return accept


def new_xid():
    return int.from_bytes(os.urandom(3), "big")


# --- subcommands -------------------------------------------------------------


def cmd_acquire(args):
    t = Transport(args)
    duid = bytes.fromhex(args.duid)
    hint = args.hint or ZERO_MAC
    xid = new_xid()
    sol = client_message(DHCP6_Solicit, xid, duid, [ia_ll(args.iaid, hint, args.quadrant)], rapid=args.rapid)
    kinds = {2, 7} if args.rapid else {2}
    a = t.exchange(sol, matching(xid, duid, kinds))
    advertised = None
    if a.kind == 7:
        if not a.rapid:
            raise Failure("a Reply to a Solicit without Rapid Commit")
    else:
        advertised, _, _, _ = a.lease(args.iaid)
        server = a.server_duid
        if server is None:
            raise Failure("an Advertise without a Server Identifier")
        xid = new_xid()
        req = client_message(DHCP6_Request, xid, duid, [ia_ll(args.iaid, advertised)], server_duid=server)
        a = t.exchange(req, matching(xid, duid, {7}))
    if a.server_duid is None:
        raise Failure("a Reply without a Server Identifier")
    mac, valid, t1, t2 = a.lease(args.iaid)
    return {
        "advertised": advertised,
        "mac": mac,
        "valid": valid,
        "t1": t1,
        "t2": t2,
        "server_duid": a.server_duid.hex(),
    }


def cmd_renew(args):
    t = Transport(args)
    duid = bytes.fromhex(args.duid)
    xid = new_xid()
    pkt = client_message(
        DHCP6_Renew, xid, duid, [ia_ll(args.iaid, args.mac)], server_duid=bytes.fromhex(args.server_duid)
    )
    a = t.exchange(pkt, matching(xid, duid, {7}))
    ia = a.ia.get(args.iaid)
    out = {"mac": None, "valid": None, "t1": 0, "t2": 0, "status": 0}
    if ia is not None:
        out["t1"], out["t2"] = ia["T1"], ia["T2"]
        if ia["lladdr"]:
            out["mac"], out["valid"] = ia["lladdr"][0].lladdr, ia["lladdr"][0].validlft
        if ia["status"]:
            out["status"] = ia["status"][0]
    if not out["status"] and a.status:
        out["status"] = a.status[0]
    return out


def cmd_release(args):
    t = Transport(args)
    duid = bytes.fromhex(args.duid)
    xid = new_xid()
    pkt = client_message(
        DHCP6_Release,
        xid,
        duid,
        [ia_ll(args.iaid, args.mac)],
        server_duid=bytes.fromhex(args.server_duid),
        oro=False,
    )
    a = t.exchange(pkt, matching(xid, duid, {7}))
    ia = a.ia.get(args.iaid)
    if ia is not None and ia["status"]:
        return {"status": ia["status"][0]}
    return {"status": a.status[0] if a.status else 0}


def cmd_raw(args):
    t = Transport(args)
    t.send(bytes.fromhex(args.hex))
    data = t.recv(time.monotonic() + args.timeout)
    return {"answered": data is not None, "reply_hex": data.hex() if data is not None else None}


def cmd_selftest(_args):
    n = 0

    def check(cond, what):
        nonlocal n
        if not cond:
            raise Failure(f"selftest: {what}")
        n += 1

    duid = bytes.fromhex("00030001020000000001")
    sduid = bytes.fromhex("000300010200000000fe")
    hint = "0a:00:00:00:00:42"

    # One IA_LL byte for byte: the formats as RFC 8947 draws them.
    want = bytes.fromhex(
        "008a0022" "00000007" "00000000" "00000000"
        "008b0012" "0001" "0006" "0a0000000042" "00000000" "00000000"
    )
    check(bytes(ia_ll(7, hint)) == want, f"IA_LL bytes {bytes(ia_ll(7, hint)).hex()}")

    for cls, server, rapid, quads in [
        (DHCP6_Solicit, None, False, ()),
        (DHCP6_Solicit, None, True, (3, 1)),
        (DHCP6_Request, sduid, False, ()),
        (DHCP6_Renew, sduid, False, ()),
        (DHCP6_Release, sduid, False, ()),
    ]:
        p = client_message(cls, 0x123456, duid, [ia_ll(9, hint, quads)], server_duid=server, rapid=rapid)
        back = cls(bytes(with_elapsed(p, 150)))
        opts = options(back)
        cid = [bytes(o.duid) for o in opts if type(o) is DHCP6OptClientId]
        sid = [bytes(o.duid) for o in opts if type(o) is DHCP6OptServerId]
        ias = [o for o in opts if type(o) is DHCP6OptIA_LL]
        check(back.msgtype == p.msgtype and back.trid == 0x123456, f"{cls.__name__} header")
        check(cid == [duid] and sid == ([server] if server else []), f"{cls.__name__} identifiers")
        check(any(type(o) is DHCP6OptRapidCommit for o in opts) == rapid, f"{cls.__name__} rapid commit")
        el = [o.elapsedtime for o in opts if type(o) is DHCP6OptElapsedTime]
        check(el == [150], f"{cls.__name__} elapsed time {el}")
        check(len(ias) == 1 and ias[0].iaid == 9, f"{cls.__name__} IA_LL")
        subs = sub_options(ias[0].iallopts)
        ll = [s for s in subs if type(s) is DHCP6OptLLAddr]
        check(len(ll) == 1 and ll[0].lladdr == hint and ll[0].lllen == 6, f"{cls.__name__} LLADDR")
        q = [[(x.quadrant, x.pref) for x in s.quads] for s in subs if type(s) is DHCP6OptSlapQuad]
        check(q == ([[(3, 255), (1, 128)]] if quads else []), f"{cls.__name__} quadrants {q}")

    # A relayed Solicit, and the Relay-Repl a server would send back.
    sol = bytes(client_message(DHCP6_Solicit, 0xABCDEF, duid, [ia_ll(1)]))
    fw = DHCP6_RelayForward(bytes(relay_forw(sol, "2001:db8::1")))
    fo = options(fw)
    check(fw.hopcount == 0 and fw.peeraddr == RELAY_PEER and fw.linkaddr == "2001:db8::1", "Relay-Forw header")
    check([o.ifaceid for o in fo if type(o) is DHCP6OptIfaceId] == [RELAY_IFACE_ID], "Relay-Forw Interface-Id")
    check([bytes(o.message) for o in fo if type(o) is DHCP6OptRelayMsg] == [sol], "Relay-Forw message")

    def server_reply(cls, xid, ias, status=None, rapid=False):
        p = cls(trid=xid) / DHCP6OptServerId(duid=Raw(sduid)) / DHCP6OptClientId(duid=Raw(duid))
        if rapid:
            p = p / DHCP6OptRapidCommit()
        for i in ias:
            p = p / i
        if status:
            p = p / DHCP6OptStatusCode(statuscode=status[0], statusmsg=status[1])
        return bytes(p)

    granted = DHCP6OptIA_LL(
        iaid=1, T1=1800, T2=2880, iallopts=[DHCP6OptLLAddr(lladdr=hint, extra=0, validlft=3600)]
    )
    adv = server_reply(DHCP6_Advertise, 0xABCDEF, [granted])
    repl = (
        DHCP6_RelayReply(hopcount=0, linkaddr="2001:db8::1", peeraddr=RELAY_PEER)
        / DHCP6OptIfaceId(ifaceid=RELAY_IFACE_ID)
        / DHCP6OptRelayMsg(message=DHCP6(adv))
    )
    inner = unwrap_relay_repl(bytes(repl), "2001:db8::1")
    check(inner == adv, "Relay-Repl unwraps to the Advertise")
    a = Answer(inner)
    check((a.kind, a.xid, a.server_duid, a.client_duid) == (2, 0xABCDEF, sduid, duid), "Advertise header")
    check(a.lease(1) == (hint, 3600, 1800, 2880), f"Advertise lease {a.lease(1)}")
    bad = (
        DHCP6_RelayReply(hopcount=0, linkaddr="2001:db8::1", peeraddr=RELAY_PEER)
        / DHCP6OptRelayMsg(message=DHCP6(adv))
    )
    try:
        unwrap_relay_repl(bytes(bad), "2001:db8::1")
        check(False, "a Relay-Repl without our Interface-Id is refused")
    except Failure:
        check(True, "")

    no = DHCP6OptIA_LL(iaid=1, iallopts=[DHCP6OptStatusCode(statuscode=2, statusmsg=b"none left")])
    a = Answer(server_reply(DHCP6_Reply, 1, [no], status=(0, b"")))
    try:
        a.lease(1)
        check(False, "a status answer is refused")
    except Refused as e:
        check(e.code == 2, f"status code {e.code}")
    a = Answer(server_reply(DHCP6_Reply, 1, [granted], rapid=True))
    check(a.rapid and a.kind == 7, "Reply with Rapid Commit")
    a = Answer(server_reply(DHCP6_Reply, 1, [], status=(3, b"no binding")))
    check(a.status == (3, "no binding") and a.ia == {}, "top-level status")
    return {"selftest": "ok", "checks": n}


def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--iface", help="direct mode: the interface to solicit on")
    common.add_argument("--server", help="relayed mode: the server's address")
    common.add_argument("--server-port", type=int, default=547)
    common.add_argument("--relay-bind", help="relayed mode: the relay agent's own address")
    common.add_argument("--relay-port", type=int, default=547)
    common.add_argument("--link", default="::", help="relayed mode: link-address of the Relay-Forw")
    common.add_argument("--timeout", type=float, default=3.0)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("acquire", parents=[common])
    p.add_argument("--duid", required=True)
    p.add_argument("--iaid", type=lambda s: int(s, 0), required=True)
    p.add_argument("--hint")
    p.add_argument("--rapid", action="store_true")
    p.add_argument("--quadrant", type=int, action="append", default=[], choices=range(4))
    p.set_defaults(fn=cmd_acquire, net=True)
    for name, fn in [("renew", cmd_renew), ("release", cmd_release)]:
        p = sub.add_parser(name, parents=[common])
        p.add_argument("--duid", required=True)
        p.add_argument("--iaid", type=lambda s: int(s, 0), required=True)
        p.add_argument("--mac", required=True)
        p.add_argument("--server-duid", required=True)
        p.set_defaults(fn=fn, net=True)
    p = sub.add_parser("raw", parents=[common])
    p.add_argument("--hex", required=True)
    p.set_defaults(fn=cmd_raw, net=True)
    p = sub.add_parser("selftest")
    p.set_defaults(fn=cmd_selftest, net=False)
    args = ap.parse_args()
    if args.net and (args.iface is None) == (args.server is None):
        ap.error("give exactly one of --iface (direct) or --server (relayed)")
    try:
        out = args.fn(args)
    except Refused as e:
        print(json.dumps({"status": e.code, "message": str(e), **e.extra}))
        print(f"{args.cmd}: refused: {e}", file=sys.stderr)
        return 3
    except (Failure, OSError, ValueError) as e:
        print(f"{args.cmd}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
