//! `moose bench spf`: how long one switch takes to recompute its routes
//! after a change of the link-state database, for fabrics of 10, 100 and
//! 1000 switches: [`Graph::new`] from the adverts, [`Graph::routes`] (SPF
//! with ECMP first hops), [`Graph::tree`] (the broadcast tree) and the FIB
//! build of the routes service ([`build_fib`], `rib.table()`,
//! [`NextHops::new`]) — the same functions the switch runs.
//!
//! A benchmark, not a test: it reports the median, the minimum and the
//! maximum of each phase over repetitions, and the ratio of the
//! 1000-switch median to the 10-switch one; it asserts no timing. The
//! topologies are generated deterministically ([`clos`], [`mesh`]), with
//! the prefixes `prefix = "auto"` gives ([`Prefixes`]; the Clos also with
//! numbered ones); the tests check that they are what they claim
//! (connected, at most [`MAX_LINKS`] links a switch, ECMP over all spines
//! from a leaf).

use std::fmt;
use std::hint::black_box;
use std::time::Instant;

use moose_dataplane::tables::NextHops;
use moose_wire::proto::{Advert, Link, MAX_LINKS};
use moose_wire::{Mac, MacPrefix};
use serde::Serialize;

use crate::routes::build_fib;
use crate::routing::spf::Graph;

/// The fabric sizes measured.
pub const SIZES: [usize; 3] = [10, 100, 1000];

/// The cost of every Clos link.
pub const CLOS_COST: u16 = 10;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct BenchConfig {
    /// Fewer repetitions (for a smoke run): the same sizes.
    pub quick: bool,
}

impl BenchConfig {
    /// Timed repetitions of each (topology, size), after one untimed one.
    pub fn repetitions(&self) -> usize {
        if self.quick {
            5
        } else {
            201
        }
    }
}

/// The role of a switch in a generated topology.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A Clos leaf (top of rack): links to spines only.
    Leaf,
    /// A Clos spine (in a three-tier Clos, a pod's spine).
    Spine,
    /// A three-tier Clos super-spine: links to one spine of every pod.
    SuperSpine,
    /// A switch of the mesh.
    Mesh,
}

/// A generated fabric: every switch's advert (index `i` is switch `i`,
/// id [`switch_id`]`(i)`) and role.
#[derive(Clone, Debug)]
pub struct Topology {
    /// `"clos"` or `"mesh"`.
    pub name: &'static str,
    pub prefixes: Prefixes,
    /// What it is, in words.
    pub shape: String,
    pub adverts: Vec<Advert>,
    pub roles: Vec<Role>,
    /// The switch whose view is computed: the first leaf of a Clos.
    pub me: usize,
}

impl Topology {
    pub fn len(&self) -> usize {
        self.adverts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.adverts.is_empty()
    }

    /// Two-way links.
    pub fn links(&self) -> usize {
        self.adverts.iter().map(|a| a.links.len()).sum::<usize>() / 2
    }
}

/// The id of switch `i` (`52:54:00:00:hh:ll`): index order is id order.
pub fn switch_id(i: usize) -> Mac {
    let i = u16::try_from(i).expect("at most 65535 switches");
    let [h, l] = i.to_be_bytes();
    Mac([0x52, 0x54, 0, 0, h, l])
}

/// How switches get their `02:xx:yy:00:00:00/24` prefixes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefixes {
    /// As `prefix = "auto"` gives them: [`moose_config::auto_prefix`] of
    /// the switch id, the next attempt while another switch holds it (the
    /// renumbering the link-state protocol causes), so `xx:yy` is a hash.
    Auto,
    /// Numbered: switch `i` gets `xx:yy = i + 1`. Up to 4095 switches,
    /// every one then falls in the same top-level bucket of the LPM (its
    /// first 12 bits, `02:0`), the worst case for its incremental build.
    Sequential,
}

impl Prefixes {
    /// The prefixes of switches `0..n`, distinct.
    pub fn assign(self, n: usize) -> Vec<MacPrefix> {
        match self {
            Prefixes::Sequential => (0..n)
                .map(|i| {
                    let i = u16::try_from(i + 1).expect("at most 65534 switches");
                    let [h, l] = i.to_be_bytes();
                    MacPrefix::new(Mac([0x02, h, l, 0, 0, 0]), 24).expect("a /24 is valid")
                })
                .collect(),
            Prefixes::Auto => {
                assert!(n <= 1 << 15, "too many switches for 16-bit prefixes");
                let mut taken = std::collections::HashSet::new();
                (0..n)
                    .map(|i| {
                        (0..)
                            .map(|a| moose_config::auto_prefix(&switch_id(i).0, a).prefix())
                            .find(|p| taken.insert(*p))
                            .expect("a free prefix")
                    })
                    .collect()
            }
        }
    }
}

/// Adverts under construction: each switch numbers its ports from 0 in
/// the order its links are added.
struct Fabric {
    adverts: Vec<Advert>,
}

impl Fabric {
    fn new(n: usize, prefixes: Prefixes) -> Fabric {
        Fabric {
            adverts: (0..n)
                .zip(prefixes.assign(n))
                .map(|(i, prefix)| Advert {
                    origin: switch_id(i),
                    seq: 1,
                    age_s: 0,
                    prefix,
                    auto_prefix: prefixes == Prefixes::Auto,
                    directory: false,
                    links: Vec::new(),
                })
                .collect(),
        }
    }

    fn link(&mut self, a: usize, b: usize, cost: u16) {
        assert_ne!(a, b);
        let pa = self.adverts[a].links.len() as u16;
        let pb = self.adverts[b].links.len() as u16;
        self.adverts[a].links.push(Link {
            neighbor: switch_id(b),
            cost,
            port: pa,
            neighbor_port: pb,
        });
        self.adverts[b].links.push(Link {
            neighbor: switch_id(a),
            cost,
            port: pb,
            neighbor_port: pa,
        });
    }

    fn done(self) -> Vec<Advert> {
        for a in &self.adverts {
            assert!(
                a.links.len() <= MAX_LINKS,
                "switch {} has {} links, more than an advert carries ({MAX_LINKS})",
                a.origin,
                a.links.len()
            );
        }
        self.adverts
    }
}

/// Spine planes (spines a pod) of a three-tier Clos.
const PLANES: usize = 4;
/// Leaves a pod of a three-tier Clos, before the remainder is spread.
const POD_LEAVES: usize = 16;

/// A Clos of `n` switches (n ≥ 3), every link of cost [`CLOS_COST`].
///
/// Two tiers when they fit in [`MAX_LINKS`] ports a switch: `max(2, n/10)`
/// spines, the rest leaves, each leaf linked to every spine (10: 2 spines,
/// 8 leaves). Otherwise three: pods of [`POD_LEAVES`] leaves (the
/// remainder spread over the pods) and [`PLANES`] spines, each leaf linked
/// to its pod's spines; `PLANES` planes of `max(1, n/200)` super-spines,
/// spine `j` of every pod linked to every super-spine of plane `j` (100:
/// 4 pods of 20 leaves + 4 spines, 4 super-spines; 1000: 49 pods of 16
/// leaves + 4 spines, 20 super-spines). Ids: super-spines, then each pod's
/// spines and leaves (two tiers: spines, then leaves).
///
/// A two-tier Clos of 100 or 1000 switches with n/10 spines would give a
/// spine 90 or 900 ports, beyond what a switch has and an advert carries.
pub fn clos(n: usize, prefixes: Prefixes) -> Topology {
    assert!(n >= 3, "a Clos needs 3 switches");
    let spines = (n / 10).max(2);
    let leaves = n - spines;
    if leaves <= MAX_LINKS && spines <= MAX_LINKS {
        let mut f = Fabric::new(n, prefixes);
        let mut roles = vec![Role::Spine; spines];
        roles.resize(n, Role::Leaf);
        for l in spines..n {
            for s in 0..spines {
                f.link(l, s, CLOS_COST);
            }
        }
        return Topology {
            name: "clos",
            prefixes,
            shape: format!("2-tier: {spines} spines, {leaves} leaves"),
            adverts: f.done(),
            roles,
            me: spines,
        };
    }
    let per_plane = (n / 200).max(1);
    let supers = PLANES * per_plane;
    let pods = (n - supers) / (POD_LEAVES + PLANES);
    assert!(pods >= 1, "{n} switches are too few for three tiers");
    let extra = (n - supers) - pods * (POD_LEAVES + PLANES);
    let mut f = Fabric::new(n, prefixes);
    let mut roles = vec![Role::SuperSpine; supers];
    let mut next = supers;
    let mut sizes = Vec::new();
    for p in 0..pods {
        let leaves = POD_LEAVES + extra / pods + usize::from(p < extra % pods);
        let spine0 = next;
        roles.extend([Role::Spine; PLANES]);
        roles.extend(std::iter::repeat_n(Role::Leaf, leaves));
        for j in 0..PLANES {
            for k in 0..per_plane {
                f.link(spine0 + j, j * per_plane + k, CLOS_COST);
            }
        }
        for l in 0..leaves {
            for j in 0..PLANES {
                f.link(spine0 + PLANES + l, spine0 + j, CLOS_COST);
            }
        }
        next += PLANES + leaves;
        sizes.push(leaves);
    }
    debug_assert_eq!(next, n);
    let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    let leaves = if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo}-{hi}")
    };
    let s = if per_plane == 1 { "" } else { "s" };
    Topology {
        name: "clos",
        prefixes,
        shape: format!(
            "3-tier: {pods} pods of {leaves} leaves + {PLANES} spines, \
             {PLANES} planes of {per_plane} super-spine{s}"
        ),
        adverts: f.done(),
        roles,
        me: supers + PLANES,
    }
}

/// xorshift64: the mesh's deterministic randomness.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A degree-4 mesh of `n` switches (n ≥ 3) from a fixed seed: a ring
/// (0-1-…-n-1-0, so it is connected) plus a second cycle through the
/// switches in a random order, reshuffled (up to 1000 times) until it
/// repeats no link, so every switch has 4 links to 4 distinct neighbours
/// when n ≥ 5. Costs 10, 20 or 30 at random. The view is switch n/2's.
pub fn mesh(n: usize, prefixes: Prefixes) -> Topology {
    assert!(n >= 3, "a mesh needs 3 switches");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let key = |a: usize, b: usize| (a.min(b), a.max(b));
    let ring: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
    let mut seen: std::collections::HashSet<(usize, usize)> =
        ring.iter().map(|&(a, b)| key(a, b)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut chords = Vec::new();
    for _ in 0..1000 {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        chords = (0..n).map(|i| (order[i], order[(i + 1) % n])).collect();
        let mut keys: Vec<(usize, usize)> = chords.iter().map(|&(a, b)| key(a, b)).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.len() == n && keys.iter().all(|k| !seen.contains(k)) {
            break;
        }
    }
    let mut f = Fabric::new(n, prefixes);
    for &(a, b) in &ring {
        f.link(a, b, 10 * (1 + rng.below(3) as u16));
    }
    for &(a, b) in &chords {
        // A repeat only when no shuffle avoided them all (n < 5): left out.
        if seen.insert(key(a, b)) {
            f.link(a, b, 10 * (1 + rng.below(3) as u16));
        }
    }
    Topology {
        name: "mesh",
        prefixes,
        shape: "degree 4: a ring and a random cycle, costs 10/20/30".into(),
        adverts: f.done(),
        roles: vec![Role::Mesh; n],
        me: n / 2,
    }
}

/// One phase's times over the repetitions, microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

impl Figure {
    fn of(mut us: Vec<f64>) -> Figure {
        us.sort_by(f64::total_cmp);
        let n = us.len();
        let median = if n % 2 == 1 {
            us[n / 2]
        } else {
            (us[n / 2 - 1] + us[n / 2]) / 2.0
        };
        Figure {
            median_us: median,
            min_us: us[0],
            max_us: us[n - 1],
        }
    }
}

/// Something for each phase of a rebuild.
#[derive(Clone, Debug, Serialize)]
pub struct Phases<T> {
    /// `Graph::new` from every switch's advert.
    pub graph: T,
    /// `Graph::routes(me)`: SPF and ECMP first hops.
    pub routes: T,
    /// `Graph::tree(me)`: the broadcast tree (two shortest-path runs).
    pub tree: T,
    /// The FIB: `build_fib` of the routes, `rib.table()` and
    /// `NextHops::new(groups)`, as `Routes::rebuild` publishes them.
    pub fib: T,
    /// All four, one after the other (each repetition's sum).
    pub total: T,
}

impl<T> Phases<T> {
    fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> Phases<U> {
        Phases {
            graph: f(&self.graph),
            routes: f(&self.routes),
            tree: f(&self.tree),
            fib: f(&self.fib),
            total: f(&self.total),
        }
    }

    fn zip<U, V>(&self, o: &Phases<U>, mut f: impl FnMut(&T, &U) -> V) -> Phases<V> {
        Phases {
            graph: f(&self.graph, &o.graph),
            routes: f(&self.routes, &o.routes),
            tree: f(&self.tree, &o.tree),
            fib: f(&self.fib, &o.fib),
            total: f(&self.total, &o.total),
        }
    }

    fn list(&self) -> [(&'static str, &T); 5] {
        [
            ("graph", &self.graph),
            ("routes", &self.routes),
            ("tree", &self.tree),
            ("fib", &self.fib),
            ("total", &self.total),
        ]
    }
}

/// The figures of one topology at one size.
#[derive(Clone, Debug, Serialize)]
pub struct RunFigures {
    /// `"clos"` or `"mesh"`.
    pub topology: &'static str,
    pub prefixes: Prefixes,
    pub switches: usize,
    /// Two-way links.
    pub links: usize,
    pub shape: String,
    /// The switch whose view is computed.
    pub me: String,
    /// Routes `me` found (every other switch, as the topology is connected).
    pub routes: usize,
    /// Of which with two or more first-hop ports.
    pub ecmp_routes: usize,
    /// FIB entries and ECMP groups built from them.
    pub fib_entries: usize,
    pub groups: usize,
    /// Edges of the broadcast tree (`switches - 1`).
    pub tree_edges: usize,
    /// Times per phase.
    pub us: Phases<Figure>,
}

/// The name of a run in the tables: `clos`, `mesh`, `clos-seq`
/// (sequential prefixes).
fn label(topology: &str, prefixes: Prefixes) -> String {
    match prefixes {
        Prefixes::Auto => topology.to_string(),
        Prefixes::Sequential => format!("{topology}-seq"),
    }
}

/// The median of each phase at 1000 switches over that at 10.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub topology: &'static str,
    pub prefixes: Prefixes,
    pub from_switches: usize,
    pub to_switches: usize,
    pub median: Phases<f64>,
}

/// Everything `moose bench spf` reports.
#[derive(Clone, Debug, Serialize)]
pub struct SpfReport {
    pub quick: bool,
    /// Timed repetitions of each run.
    pub repetitions: usize,
    /// Clos and mesh with automatic prefixes, then Clos with sequential
    /// ones, each at [`SIZES`].
    pub runs: Vec<RunFigures>,
    pub ratios: Vec<Ratio>,
}

/// Times the rebuild of `t`, `reps` times after an untimed one.
pub fn measure(t: &Topology, reps: usize) -> RunFigures {
    assert!(reps >= 1);
    let me = switch_id(t.me);
    let mut us: Phases<Vec<f64>> = Phases {
        graph: Vec::new(),
        routes: Vec::new(),
        tree: Vec::new(),
        fib: Vec::new(),
        total: Vec::new(),
    };
    let mut last = None;
    for rep in 0..=reps {
        let t0 = Instant::now();
        let g = Graph::new(black_box(&t.adverts));
        let t1 = Instant::now();
        let routes = g.routes(black_box(me));
        let t2 = Instant::now();
        let tree = g.tree(black_box(me));
        let t3 = Instant::now();
        let (rib, groups) = build_fib(routes.iter().map(|r| (r.prefix, r.ports.clone())));
        let n_groups = groups.len();
        let fib = rib.table();
        let hops = NextHops::new(groups);
        let t4 = Instant::now();
        let us_of = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
        if rep > 0 {
            us.graph.push(us_of(t0, t1));
            us.routes.push(us_of(t1, t2));
            us.tree.push(us_of(t2, t3));
            us.fib.push(us_of(t3, t4));
            us.total.push(us_of(t0, t4));
        }
        black_box((&fib, &hops));
        last = Some((routes, tree.edges.len(), rib.len(), n_groups));
    }
    let (routes, tree_edges, fib_entries, groups) = last.expect("one repetition at least");
    RunFigures {
        topology: t.name,
        prefixes: t.prefixes,
        switches: t.len(),
        links: t.links(),
        shape: t.shape.clone(),
        me: me.to_string(),
        routes: routes.len(),
        ecmp_routes: routes.iter().filter(|r| r.ports.len() > 1).count(),
        fib_entries,
        groups,
        tree_edges,
        us: us.map(|v| Figure::of(v.clone())),
    }
}

/// Runs the benchmark: a Clos and a mesh at each of [`SIZES`] with
/// automatic prefixes, then the Clos with sequential ones.
pub fn run(cfg: &BenchConfig) -> SpfReport {
    let reps = cfg.repetitions();
    let mut runs = Vec::new();
    let mut ratios = Vec::new();
    type Make = fn(usize, Prefixes) -> Topology;
    for (make, prefixes) in [
        (clos as Make, Prefixes::Auto),
        (mesh, Prefixes::Auto),
        (clos, Prefixes::Sequential),
    ] {
        let first = runs.len();
        for n in SIZES {
            runs.push(measure(&make(n, prefixes), reps));
        }
        let (a, b): (&RunFigures, &RunFigures) = (&runs[first], &runs[runs.len() - 1]);
        ratios.push(Ratio {
            topology: a.topology,
            prefixes,
            from_switches: a.switches,
            to_switches: b.switches,
            median: b.us.zip(&a.us, |x, y| x.median_us / y.median_us),
        });
    }
    SpfReport {
        quick: cfg.quick,
        repetitions: reps,
        runs,
        ratios,
    }
}

impl fmt::Display for SpfReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "moose bench spf{}: one switch's rebuild after a database change, \
             {} repetitions, microseconds",
            if self.quick { " (quick)" } else { "" },
            self.repetitions
        )?;
        for r in &self.runs {
            writeln!(
                f,
                "{:<8} {:>4} switches, {:>4} links ({}); from {}: routes {} (ECMP {}), \
                 FIB entries {}, groups {}, tree edges {}",
                label(r.topology, r.prefixes),
                r.switches,
                r.links,
                r.shape,
                r.me,
                r.routes,
                r.ecmp_routes,
                r.fib_entries,
                r.groups,
                r.tree_edges
            )?;
        }
        writeln!(
            f,
            "{:<8} {:>8} {:<6} {:>10} {:>10} {:>10}",
            "topology", "switches", "phase", "median", "min", "max"
        )?;
        for r in &self.runs {
            for (name, x) in r.us.list() {
                writeln!(
                    f,
                    "{:<8} {:>8} {:<6} {:>10.1} {:>10.1} {:>10.1}",
                    label(r.topology, r.prefixes),
                    r.switches,
                    name,
                    x.median_us,
                    x.min_us,
                    x.max_us
                )?;
            }
        }
        for q in &self.ratios {
            write!(
                f,
                "ratio {:<8} {}/{} switches (medians):",
                label(q.topology, q.prefixes),
                q.to_switches,
                q.from_switches
            )?;
            for (name, x) in q.median.list() {
                write!(f, " {name} {x:.0}x")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_wire::PortId;
    use std::collections::HashSet;

    fn sizes() -> impl Iterator<Item = usize> {
        SIZES.into_iter().chain([3, 5, 50, 72, 150, 400])
    }

    /// Well-formed adverts: distinct ids and prefixes, ports 0..links a
    /// switch, every link's other end advertises it back.
    fn check_adverts(t: &Topology) {
        let n = t.len();
        assert_eq!(t.roles.len(), n);
        let ids: HashSet<Mac> = t.adverts.iter().map(|a| a.origin).collect();
        let prefixes: HashSet<MacPrefix> = t.adverts.iter().map(|a| a.prefix).collect();
        assert_eq!((ids.len(), prefixes.len()), (n, n));
        for (i, a) in t.adverts.iter().enumerate() {
            assert_eq!(a.origin, switch_id(i));
            let p = a.prefix;
            assert_eq!(
                (p.len(), p.addr().0[0], &p.addr().0[3..]),
                (24, 0x02, &[0u8; 3][..])
            );
            assert!(a.links.len() <= MAX_LINKS, "{}: {}", t.shape, a.links.len());
            let ports: Vec<u16> = a.links.iter().map(|l| l.port).collect();
            assert_eq!(ports, (0..a.links.len() as u16).collect::<Vec<_>>());
            for l in &a.links {
                let j = t
                    .adverts
                    .iter()
                    .position(|b| b.origin == l.neighbor)
                    .unwrap();
                assert!(t.adverts[j].links.iter().any(|r| r.neighbor == a.origin
                    && r.port == l.neighbor_port
                    && r.neighbor_port == l.port));
            }
        }
    }

    /// Connected: from the switch measured, and from the last one, SPF
    /// reaches every other switch and the tree spans them all.
    fn check_connected(t: &Topology) {
        let n = t.len();
        let g = Graph::new(&t.adverts);
        for me in [t.me, n - 1] {
            let routes = g.routes(switch_id(me));
            assert_eq!(routes.len(), n - 1, "{} from {me}", t.shape);
            let found: HashSet<Mac> = routes.iter().map(|r| r.switch_id).collect();
            assert_eq!(found.len(), n - 1);
            assert!(!found.contains(&switch_id(me)));
            assert_eq!(g.tree(switch_id(me)).edges.len(), n - 1);
        }
    }

    #[test]
    fn topologies_are_connected_and_fit_in_adverts() {
        for n in sizes() {
            for t in [
                clos(n, Prefixes::Auto),
                mesh(n, Prefixes::Auto),
                clos(n, Prefixes::Sequential),
            ] {
                assert_eq!(t.len(), n);
                check_adverts(&t);
                check_connected(&t);
            }
        }
    }

    #[test]
    fn clos_shapes() {
        let clos = |n| clos(n, Prefixes::Auto);
        assert_eq!(clos(10).shape, "2-tier: 2 spines, 8 leaves");
        assert_eq!(
            clos(100).shape,
            "3-tier: 4 pods of 20 leaves + 4 spines, 4 planes of 1 super-spine"
        );
        assert_eq!(
            clos(1000).shape,
            "3-tier: 49 pods of 16 leaves + 4 spines, 4 planes of 5 super-spines"
        );
        for n in sizes() {
            let t = clos(n);
            assert_eq!(t.roles[t.me], Role::Leaf);
            for (a, role) in t.adverts.iter().zip(&t.roles) {
                if *role == Role::Leaf {
                    // Leaves link to spines only.
                    for l in &a.links {
                        let j = t.adverts.iter().position(|b| b.origin == l.neighbor);
                        assert_eq!(t.roles[j.unwrap()], Role::Spine);
                    }
                }
            }
        }
    }

    /// From every leaf's view (of a few per fabric): every other switch is
    /// found, every other leaf with ECMP over all the leaf's spines (its
    /// links), at two hops in its pod and four beyond.
    #[test]
    fn a_leaf_reaches_every_leaf_over_all_its_spines() {
        for n in sizes() {
            let t = clos(n, Prefixes::Auto);
            let g = Graph::new(&t.adverts);
            let leaves: Vec<usize> = (0..n).filter(|&i| t.roles[i] == Role::Leaf).collect();
            let three_tier = t.roles.contains(&Role::SuperSpine);
            for me in [
                leaves[0],
                leaves[leaves.len() / 2],
                leaves[leaves.len() - 1],
            ] {
                let a = &t.adverts[me];
                let uplinks: Vec<PortId> = a.links.iter().map(|l| PortId(l.port)).collect();
                let spines: HashSet<Mac> = a.links.iter().map(|l| l.neighbor).collect();
                let spine_count = if three_tier { PLANES } else { (n / 10).max(2) };
                assert_eq!(uplinks.len(), spine_count);
                let routes = g.routes(switch_id(me));
                assert_eq!(routes.len(), n - 1, "{}", t.shape);
                for &other in &leaves {
                    if other == me {
                        continue;
                    }
                    let r = routes
                        .iter()
                        .find(|r| r.switch_id == switch_id(other))
                        .unwrap_or_else(|| panic!("{}: {me} to leaf {other}", t.shape));
                    assert_eq!(r.prefix, t.adverts[other].prefix);
                    assert_eq!(r.ports, uplinks, "{}: {me} to leaf {other}", t.shape);
                    let same_pod = t.adverts[other]
                        .links
                        .iter()
                        .all(|l| spines.contains(&l.neighbor));
                    let hops = if same_pod { 2 } else { 4 };
                    assert_eq!(r.cost, hops * u32::from(CLOS_COST));
                }
                // Its own spines, directly.
                for l in &a.links {
                    let r = routes.iter().find(|r| r.switch_id == l.neighbor).unwrap();
                    assert_eq!((r.ports.clone(), r.cost), (vec![PortId(l.port)], 10));
                }
            }
        }
    }

    #[test]
    fn mesh_has_degree_4_and_is_deterministic() {
        for n in sizes().filter(|&n| n >= 5) {
            let t = mesh(n, Prefixes::Auto);
            for a in &t.adverts {
                let nbrs: HashSet<Mac> = a.links.iter().map(|l| l.neighbor).collect();
                assert_eq!((a.links.len(), nbrs.len()), (4, 4), "n {n}");
            }
            assert_eq!(mesh(n, Prefixes::Auto).adverts, t.adverts);
        }
    }

    #[test]
    fn the_fib_has_a_route_for_every_switch() {
        for t in [clos(100, Prefixes::Auto), mesh(100, Prefixes::Sequential)] {
            let f = measure(&t, 1);
            assert_eq!(f.routes, 99);
            assert_eq!(f.fib_entries, 99);
            assert_eq!(f.tree_edges, 99);
            assert!(f.groups >= 1 && f.ecmp_routes >= f.groups);
        }
        // A leaf's ECMP routes all use one group: all its spines.
        assert_eq!(measure(&clos(10, Prefixes::Auto), 1).groups, 1);
    }

    #[test]
    fn quick_run_reports_every_size() {
        let r = run(&BenchConfig { quick: true });
        assert_eq!(r.runs.len(), 3 * SIZES.len());
        assert_eq!(r.ratios.len(), 3);
        let text = r.to_string();
        assert!(text.contains("ratio clos-seq 1000/10 switches"), "{text}");
        assert!(serde_json::to_string(&r).unwrap().contains("\"median_us\""));
    }
}
