//! Shortest-path first and the broadcast tree, from a link-state
//! database; pure functions, so the benchmark and the simulation run the
//! same code as the switch.
//!
//! A link counts only if both ends advertise it (the same two ports), as
//! OSPF's two-way check: a switch that lost a neighbour withdraws the link
//! from both directions at once, whatever the other end still says.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use moose_wire::proto::Advert;
use moose_wire::{Mac, MacPrefix, PortId};

/// A route SPF found: a switch's prefix and this switch's equal-cost
/// first-hop ports toward it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfRoute {
    pub prefix: MacPrefix,
    pub switch_id: Mac,
    pub cost: u32,
    pub ports: Vec<PortId>,
}

/// One edge of the broadcast tree, from the parent side: `parent`'s port
/// `parent_port` to `child`'s port `child_port`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeEdge {
    pub parent: Mac,
    pub parent_port: u16,
    pub child: Mac,
    pub child_port: u16,
}

/// The broadcast tree of the component a switch is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// The lowest switch id of the component.
    pub root: Option<Mac>,
    pub edges: Vec<TreeEdge>,
    /// Names the tree: equal digests, equal trees.
    pub digest: u64,
}

impl Tree {
    /// The ports of switch `me` on the tree.
    pub fn ports_of(&self, me: Mac) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .edges
            .iter()
            .filter_map(|e| {
                if e.parent == me {
                    Some(e.parent_port)
                } else if e.child == me {
                    Some(e.child_port)
                } else {
                    None
                }
            })
            .collect();
        v.sort_unstable();
        v
    }
}

/// A two-way link: to `to`, from `port` to its `to_port`, at `cost`.
#[derive(Copy, Clone, Debug)]
struct Adj {
    to: usize,
    cost: u32,
    port: u16,
    to_port: u16,
}

/// The graph of a database: switch ids, in id order, and their two-way
/// links.
pub struct Graph {
    ids: Vec<Mac>,
    index: HashMap<Mac, usize>,
    adj: Vec<Vec<Adj>>,
    prefixes: Vec<MacPrefix>,
}

impl Graph {
    pub fn new<'a>(adverts: impl IntoIterator<Item = &'a Advert>) -> Graph {
        let mut by_id: BTreeMap<Mac, &Advert> = BTreeMap::new();
        for a in adverts {
            by_id.insert(a.origin, a);
        }
        let ids: Vec<Mac> = by_id.keys().copied().collect();
        let index: HashMap<Mac, usize> = ids.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let mut adj = vec![Vec::new(); ids.len()];
        for (i, a) in by_id.values().enumerate() {
            for l in &a.links {
                let Some(&j) = index.get(&l.neighbor) else {
                    continue;
                };
                if j == i {
                    continue;
                }
                let back = by_id[&l.neighbor].links.iter().any(|r| {
                    r.neighbor == a.origin && r.port == l.neighbor_port && r.neighbor_port == l.port
                });
                if back {
                    adj[i].push(Adj {
                        to: j,
                        cost: u32::from(l.cost.max(1)),
                        port: l.port,
                        to_port: l.neighbor_port,
                    });
                }
            }
            adj[i].sort_by_key(|e| (ids[e.to], e.port, e.to_port));
        }
        Graph {
            prefixes: by_id.values().map(|a| a.prefix).collect(),
            ids,
            index,
            adj,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Distances from `src` (`u32::MAX`: unreachable).
    fn dijkstra(&self, src: usize) -> Vec<u32> {
        let mut dist = vec![u32::MAX; self.ids.len()];
        let mut heap = BinaryHeap::new();
        dist[src] = 0;
        heap.push(Reverse((0u32, src)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if d > dist[u] {
                continue;
            }
            for e in &self.adj[u] {
                let nd = d.saturating_add(e.cost);
                if nd < dist[e.to] {
                    dist[e.to] = nd;
                    heap.push(Reverse((nd, e.to)));
                }
            }
        }
        dist
    }

    /// Routes from `me` to every other reachable switch, with all
    /// equal-cost first hops. A prefix claimed by two switches goes to
    /// the lower switch id (the one that keeps it).
    pub fn routes(&self, me: Mac) -> Vec<SpfRoute> {
        let Some(&src) = self.index.get(&me) else {
            return Vec::new();
        };
        let dist = self.dijkstra(src);
        // First hops, in order of distance: a node's are the union of
        // those of its predecessors on shortest paths.
        let mut order: Vec<usize> = (0..self.ids.len())
            .filter(|&i| dist[i] != u32::MAX)
            .collect();
        order.sort_by_key(|&i| (dist[i], i));
        let mut hops: Vec<u64> = vec![0; self.ids.len()];
        for &u in &order {
            for e in &self.adj[u] {
                if dist[u] != u32::MAX && dist[u].saturating_add(e.cost) == dist[e.to] {
                    let h = if u == src {
                        1u64 << (e.port & 63)
                    } else {
                        hops[u]
                    };
                    hops[e.to] |= h;
                }
            }
        }
        // The lowest id claiming a prefix keeps it (ids are sorted, so
        // the first claimant has the lowest id).
        let mut first: HashMap<MacPrefix, usize> = HashMap::with_capacity(self.ids.len());
        for (i, p) in self.prefixes.iter().enumerate() {
            first.entry(*p).or_insert(i);
        }
        let mut out: Vec<SpfRoute> = Vec::new();
        for &v in &order {
            if v == src || hops[v] == 0 {
                continue;
            }
            let prefix = self.prefixes[v];
            if first[&prefix] != v || prefix == self.prefixes[src] {
                continue;
            }
            out.push(SpfRoute {
                prefix,
                switch_id: self.ids[v],
                cost: dist[v],
                ports: (0..64)
                    .filter(|b| hops[v] & (1 << b) != 0)
                    .map(|b| PortId(b as u16))
                    .collect(),
            });
        }
        out.sort_by_key(|r| (r.prefix.addr().to_u64(), r.prefix.len()));
        out
    }

    /// The broadcast tree of `me`'s component: the shortest-path tree
    /// from its lowest switch id, each switch's parent the lowest (id,
    /// ports) among its predecessors on shortest paths. Every switch with
    /// the same database computes the same tree.
    pub fn tree(&self, me: Mac) -> Tree {
        let Some(&src) = self.index.get(&me) else {
            return Tree::default();
        };
        let reach = self.dijkstra(src);
        let Some(root) = (0..self.ids.len()).find(|&i| reach[i] != u32::MAX) else {
            return Tree::default();
        };
        let dist = self.dijkstra(root);
        let mut edges = Vec::new();
        for v in 0..self.ids.len() {
            if v == root || dist[v] == u32::MAX {
                continue;
            }
            let mut best: Option<TreeEdge> = None;
            for e in &self.adj[v] {
                let u = e.to;
                if dist[u] != u32::MAX && dist[u].saturating_add(e.cost) == dist[v] {
                    let cand = TreeEdge {
                        parent: self.ids[u],
                        parent_port: e.to_port,
                        child: self.ids[v],
                        child_port: e.port,
                    };
                    if best.is_none_or(|b| cand < b) {
                        best = Some(cand);
                    }
                }
            }
            edges.extend(best);
        }
        edges.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: &[u8]| {
            for x in b {
                h ^= u64::from(*x);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(&self.ids[root].0);
        for e in &edges {
            eat(&e.parent.0);
            eat(&e.parent_port.to_be_bytes());
            eat(&e.child.0);
            eat(&e.child_port.to_be_bytes());
        }
        Tree {
            root: Some(self.ids[root]),
            edges,
            digest: h,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_wire::proto::Link;

    fn id(n: u8) -> Mac {
        Mac([0x52, 0x54, 0, 0, 0, n])
    }

    fn prefix(n: u8) -> MacPrefix {
        MacPrefix::new(Mac([0x02, n, n, 0, 0, 0]), 24).unwrap()
    }

    /// Adverts of a graph given as (a, a's port, b, b's port, cost) links.
    pub(crate) fn adverts(n: u8, links: &[(u8, u16, u8, u16, u16)]) -> Vec<Advert> {
        (1..=n)
            .map(|s| Advert {
                origin: id(s),
                seq: 1,
                age_s: 0,
                prefix: prefix(s),
                auto_prefix: false,
                directory: false,
                links: links
                    .iter()
                    .flat_map(|&(a, pa, b, pb, c)| {
                        let mut v = Vec::new();
                        if a == s {
                            v.push(Link {
                                neighbor: id(b),
                                cost: c,
                                port: pa,
                                neighbor_port: pb,
                            });
                        }
                        if b == s {
                            v.push(Link {
                                neighbor: id(a),
                                cost: c,
                                port: pb,
                                neighbor_port: pa,
                            });
                        }
                        v
                    })
                    .collect(),
            })
            .collect()
    }

    fn triangle() -> Vec<Advert> {
        adverts(3, &[(1, 0, 2, 0, 10), (2, 1, 3, 0, 10), (3, 1, 1, 1, 10)])
    }

    #[test]
    fn triangle_routes_are_direct() {
        let g = Graph::new(&triangle());
        let r = g.routes(id(1));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].prefix, prefix(2));
        assert_eq!(r[0].ports, vec![PortId(0)]);
        assert_eq!(r[1].prefix, prefix(3));
        assert_eq!(r[1].ports, vec![PortId(1)]);
    }

    #[test]
    fn equal_costs_give_ecmp() {
        // A square 1-2-4-3-1: 4 is two hops from 1 both ways.
        let a = adverts(
            4,
            &[
                (1, 0, 2, 0, 10),
                (2, 1, 4, 0, 10),
                (4, 1, 3, 1, 10),
                (3, 0, 1, 1, 10),
            ],
        );
        let r = Graph::new(&a).routes(id(1));
        let to4 = r.iter().find(|r| r.prefix == prefix(4)).unwrap();
        assert_eq!(to4.ports, vec![PortId(0), PortId(1)]);
        assert_eq!(to4.cost, 20);
    }

    #[test]
    fn one_sided_links_do_not_count() {
        let mut a = triangle();
        // 2 lost 1 (link 1-2 down) but 1 has not noticed yet.
        a[1].links.retain(|l| l.neighbor != id(1));
        let r = Graph::new(&a).routes(id(1));
        let to2 = r.iter().find(|r| r.prefix == prefix(2)).unwrap();
        assert_eq!(to2.ports, vec![PortId(1)], "via 3");
        assert_eq!(to2.cost, 20);
    }

    #[test]
    fn every_switch_computes_the_same_tree() {
        let a = adverts(
            4,
            &[
                (1, 0, 2, 0, 10),
                (2, 1, 4, 0, 10),
                (4, 1, 3, 1, 10),
                (3, 0, 1, 1, 10),
                (2, 2, 3, 2, 10),
            ],
        );
        let g = Graph::new(&a);
        let t = g.tree(id(1));
        assert_eq!(t.root, Some(id(1)));
        assert_eq!(t.edges.len(), 3, "a spanning tree of 4: {t:?}");
        for s in 2..=4 {
            assert_eq!(g.tree(id(s)), t, "switch {s}");
        }
        // 4's parent is the lower of 2 and 3.
        assert!(t
            .edges
            .iter()
            .any(|e| e.child == id(4) && e.parent == id(2)));
        let mut seen = std::collections::HashSet::new();
        for e in &t.edges {
            assert!(seen.insert(e.child), "one parent each");
        }
    }

    #[test]
    fn a_cut_changes_the_digest() {
        let g = Graph::new(&triangle());
        let t = g.tree(id(2));
        let mut a = triangle();
        a[0].links.retain(|l| l.neighbor != id(2));
        let t2 = Graph::new(&a).tree(id(2));
        assert_ne!(t.digest, t2.digest);
        assert_eq!(t2.edges.len(), 2);
    }

    #[test]
    fn a_shared_prefix_goes_to_the_lower_id() {
        let mut a = triangle();
        a[2].prefix = prefix(2);
        let r = Graph::new(&a).routes(id(1));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].switch_id, id(2));
    }

    proptest::proptest! {
        /// On random graphs: the tree spans the component with one parent
        /// per switch and no cycle, and every route's first hops are
        /// links of `me`.
        #[test]
        fn trees_span_and_routes_use_own_ports(
            n in 2u8..12,
            raw in proptest::collection::vec((1u8..12, 1u8..12, 1u16..30), 1..40),
        ) {
            let mut links = Vec::new();
            let mut port = [0u16; 13];
            for (a, b, c) in raw {
                let (a, b) = (a.min(n), b.min(n));
                if a == b { continue; }
                links.push((a, port[a as usize], b, port[b as usize], c));
                port[a as usize] += 1;
                port[b as usize] += 1;
            }
            let ads = adverts(n, &links);
            let g = Graph::new(&ads);
            for me in 1..=n {
                let t = g.tree(id(me));
                let reach = g.routes(id(me)).len() + 1;
                proptest::prop_assert_eq!(t.edges.len(), reach - 1);
                // Union-find: no cycle.
                let mut up: HashMap<Mac, Mac> = HashMap::new();
                fn find(up: &mut HashMap<Mac, Mac>, x: Mac) -> Mac {
                    let p = *up.get(&x).unwrap_or(&x);
                    if p == x { x } else { let r = find(up, p); up.insert(x, r); r }
                }
                for e in &t.edges {
                    let (a, b) = (find(&mut up, e.parent), find(&mut up, e.child));
                    proptest::prop_assert_ne!(a, b);
                    up.insert(a, b);
                }
                for r in g.routes(id(me)) {
                    for p in &r.ports {
                        proptest::prop_assert!(port[me as usize] > p.0);
                    }
                }
            }
        }
    }
}
