-- pktgen-dpdk script for moose: L2 traffic with MAC sweeps.
--
-- NOT RUN HERE: the development machines have no NIC and no pktgen-dpdk.
-- For users with one: pktgen port 0 -> moose's edge (or bridge) port,
-- moose's other port -> pktgen port 1. Written for pktgen-dpdk 21.x-23.x
-- (the pktgen.range.* Lua API); run as
--
--   pktgen -l 0-2 -n 4 -- -P -m "[1].0,[2].1" -f perf/pktgen/moose_l2.lua
--
-- and set MODE, FLOWS and SIZE below. The traffic is the one
-- perf/trex/moose_l2.py sends (see its header for the modes): `FLOWS`
-- distinct (src, dst) MAC pairs, both addresses stepping together.
-- pktgen's range mode steps each field on its own; with equal start, step
-- and count for source and destination the pairs stay aligned.

local MODE  = "edge"    -- bridge | edge | fabric
local FLOWS = 4096      -- 1 .. 65535 here (one 16-bit step of the low bytes)
local SIZE  = 64        -- frame length with FCS
local SECS  = 10        -- seconds to send per measurement

local pairs = {
  bridge = { "00:16:3e:00:00:01", "00:16:3e:01:00:01" },
  edge   = { "00:16:3e:00:00:01", "02:22:22:00:00:01" },
  fabric = { "02:22:22:00:00:01", "02:11:11:00:00:01" },
}

-- "aa:bb:cc:dd:ee:ff" plus n in the low 16 bits.
local function mac_plus(mac, n)
  local b = {}
  for x in mac:gmatch("%x%x") do b[#b + 1] = tonumber(x, 16) end
  local low = b[5] * 256 + b[6] + n
  b[5], b[6] = math.floor(low / 256) % 256, low % 256
  return string.format("%02x:%02x:%02x:%02x:%02x:%02x", b[1], b[2], b[3], b[4], b[5], b[6])
end

local src, dst = pairs[MODE][1], pairs[MODE][2]
pktgen.stop("all")
pktgen.clr()
pktgen.set("0", "size", SIZE)
pktgen.set("0", "rate", 100)
pktgen.set_proto("0", "udp")
pktgen.range.src_mac("0", "start", src)
pktgen.range.src_mac("0", "min", src)
pktgen.range.src_mac("0", "max", mac_plus(src, FLOWS - 1))
pktgen.range.src_mac("0", "inc", "00:00:00:00:00:01")
pktgen.range.dst_mac("0", "start", dst)
pktgen.range.dst_mac("0", "min", dst)
pktgen.range.dst_mac("0", "max", mac_plus(dst, FLOWS - 1))
pktgen.range.dst_mac("0", "inc", "00:00:00:00:00:01")
pktgen.range.pkt_size("0", "start", SIZE)
pktgen.range.pkt_size("0", "min", SIZE)
pktgen.range.pkt_size("0", "max", SIZE)
pktgen.range.pkt_size("0", "inc", 0)
pktgen.set_range("0", "on")

pktgen.start("0")
pktgen.delay(SECS * 1000)
pktgen.stop("0")
pktgen.delay(500)
local tx = pktgen.portStats("0", "port")[0]
local rx = pktgen.portStats("1", "port")[1]
printf("moose %s flows=%d size=%d: sent %d, received %d, loss %.4f%%\n",
  MODE, FLOWS, SIZE, tx.opackets, rx.ipackets,
  100.0 * (tx.opackets - rx.ipackets) / math.max(tx.opackets, 1))
