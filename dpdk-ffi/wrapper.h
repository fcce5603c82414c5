/* Headers dpdk-ffi binds. rte_config.h is force-included by the build
 * (pkg-config's `-include rte_config.h`), as DPDK's own builds do. */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_version.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
/* Packet capture by secondary processes (dpdk-dumpcap, dpdk-pdump): the
 * server half that runs in moose, the primary. */
#include <rte_pdump.h>
/* Commands of the telemetry socket (dpdk-telemetry.py) and the data
 * their callbacks fill. */
#include <rte_telemetry.h>

/* rte_errno is a macro over a thread-local (per_lcore__rte_errno); bindgen
 * cannot bind thread-locals portably, so expose it through a function. */
static inline int rte_ffi_errno(void) { return rte_errno; }

/* Values of function-like macros (RTE_BIT64, sizeof arithmetic) that bindgen
 * cannot evaluate, re-exported as enum constants. All fit in a C int. */
enum rte_ffi_const {
	RTE_FFI_ETH_RSS_IP = RTE_ETH_RSS_IP,
	RTE_FFI_ETH_RSS_UDP = RTE_ETH_RSS_UDP,
	RTE_FFI_ETH_RSS_TCP = RTE_ETH_RSS_TCP,
	RTE_FFI_SOCKET_ID_ANY = SOCKET_ID_ANY,
	RTE_FFI_MEMPOOL_NAMESIZE = RTE_MEMPOOL_NAMESIZE,
};
