//! The fabrics `moose sim` simulates: switches by tier, links between
//! their ports, and the hosts of each rack.

use std::fmt;

/// Where a switch sits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Top of rack: the hosts' switch.
    Edge,
    Aggregation,
    Core,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Edge, Tier::Aggregation, Tier::Core];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Aggregation => "aggregation",
            Tier::Core => "core",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The shapes `--topology` names.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Racks in pods of [`POD_RACKS`], two aggregation switches a pod, each
    /// rack on both, every aggregation switch on each of [`CORES`] cores —
    /// the classic three-tier data centre of the seed's 100-rack scenario.
    ThreeTier,
    /// Every rack's switch on every spine.
    LeafSpine { spines: usize },
    /// The k-ary fat tree: k pods of k/2 edge and k/2 aggregation switches,
    /// (k/2)² cores.
    FatTree { k: usize },
}

pub const POD_RACKS: usize = 20;
pub const CORES: usize = 4;
/// A switch has at most this many ports (the dataplane's port masks), one
/// of them the hosts' on an edge switch.
pub const MAX_PORTS: usize = 64;

#[derive(Clone, Debug)]
pub struct Switch {
    pub tier: Tier,
    pub name: String,
    /// Fabric ports, in order: (link index, the far switch).
    pub ports: Vec<(usize, usize)>,
}

/// A cable between `a`'s port `pa` and `b`'s port `pb`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub a: usize,
    pub pa: u16,
    pub b: usize,
    pub pb: u16,
}

#[derive(Clone, Debug)]
pub struct Topology {
    pub shape: Shape,
    pub switches: Vec<Switch>,
    pub links: Vec<Link>,
    /// The edge switches, one per rack.
    pub racks: Vec<usize>,
    pub hosts_per_rack: u64,
}

impl Topology {
    /// `racks` racks of `hosts_per_rack` hosts (for a fat tree, `racks` is
    /// k²/2 and only checked).
    pub fn build(shape: Shape, racks: usize, hosts_per_rack: u64) -> Result<Topology, String> {
        if hosts_per_rack == 0 {
            return Err("--hosts-per-rack: at least 1".into());
        }
        let mut t = Topology {
            shape,
            switches: Vec::new(),
            links: Vec::new(),
            racks: Vec::new(),
            hosts_per_rack,
        };
        match shape {
            Shape::ThreeTier => {
                if racks == 0 {
                    return Err("--racks: at least 1".into());
                }
                let pods = racks.div_ceil(POD_RACKS);
                let cores: Vec<usize> = (0..CORES)
                    .map(|c| t.add(Tier::Core, format!("core{c}")))
                    .collect();
                for p in 0..pods {
                    let aggs: Vec<usize> = (0..2)
                        .map(|a| t.add(Tier::Aggregation, format!("agg{p}.{a}")))
                        .collect();
                    for &a in &aggs {
                        for &c in &cores {
                            t.connect(a, c);
                        }
                    }
                    for r in p * POD_RACKS..racks.min((p + 1) * POD_RACKS) {
                        let e = t.add(Tier::Edge, format!("tor{r}"));
                        t.racks.push(e);
                        for &a in &aggs {
                            t.connect(e, a);
                        }
                    }
                }
            }
            Shape::LeafSpine { spines } => {
                if racks == 0 || spines == 0 {
                    return Err("leaf-spine: at least one rack and one spine".into());
                }
                let spines: Vec<usize> = (0..spines)
                    .map(|s| t.add(Tier::Core, format!("spine{s}")))
                    .collect();
                for r in 0..racks {
                    let e = t.add(Tier::Edge, format!("leaf{r}"));
                    t.racks.push(e);
                    for &s in &spines {
                        t.connect(e, s);
                    }
                }
            }
            Shape::FatTree { k } => {
                if k < 2 || k % 2 == 1 {
                    return Err(format!("--k {k}: an even number, at least 2"));
                }
                let half = k / 2;
                let cores: Vec<usize> = (0..half * half)
                    .map(|c| t.add(Tier::Core, format!("core{c}")))
                    .collect();
                for p in 0..k {
                    let aggs: Vec<usize> = (0..half)
                        .map(|a| t.add(Tier::Aggregation, format!("agg{p}.{a}")))
                        .collect();
                    for (j, &a) in aggs.iter().enumerate() {
                        for &c in &cores[j * half..(j + 1) * half] {
                            t.connect(a, c);
                        }
                    }
                    for e in 0..half {
                        let e = t.add(Tier::Edge, format!("edge{p}.{e}"));
                        t.racks.push(e);
                        for &a in &aggs {
                            t.connect(e, a);
                        }
                    }
                }
            }
        }
        for s in &t.switches {
            let ports = s.ports.len() + usize::from(s.tier == Tier::Edge);
            if ports > MAX_PORTS {
                return Err(format!(
                    "{} would need {ports} ports; a switch has at most {MAX_PORTS} (fewer racks, or --topology three-tier)",
                    s.name
                ));
            }
        }
        Ok(t)
    }

    fn add(&mut self, tier: Tier, name: String) -> usize {
        self.switches.push(Switch {
            tier,
            name,
            ports: Vec::new(),
        });
        self.switches.len() - 1
    }

    fn connect(&mut self, a: usize, b: usize) {
        let l = self.links.len();
        let pa = self.switches[a].ports.len() as u16;
        let pb = self.switches[b].ports.len() as u16;
        self.switches[a].ports.push((l, b));
        self.switches[b].ports.push((l, a));
        self.links.push(Link { a, pa, b, pb });
    }

    pub fn hosts(&self) -> u64 {
        self.racks.len() as u64 * self.hosts_per_rack
    }

    /// The same shape with `hosts_per_rack` hosts on each of `racks`.
    pub fn resized(&self, racks: usize, hosts_per_rack: u64) -> Result<Topology, String> {
        Topology::build(self.shape, racks, hosts_per_rack)
    }

    pub fn describe(&self) -> String {
        let count = |t: Tier| self.switches.iter().filter(|s| s.tier == t).count();
        let shape = match self.shape {
            Shape::ThreeTier => "three-tier".to_string(),
            Shape::LeafSpine { spines } => format!("leaf-spine ({spines} spines)"),
            Shape::FatTree { k } => format!("fat-tree k={k}"),
        };
        format!(
            "{shape}: {} racks × {} hosts = {} hosts; {} edge, {} aggregation, {} core switches, {} links",
            self.racks.len(),
            self.hosts_per_rack,
            self.hosts(),
            count(Tier::Edge),
            count(Tier::Aggregation),
            count(Tier::Core),
            self.links.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_tree_has_the_textbook_counts() {
        let t = Topology::build(Shape::FatTree { k: 4 }, 0, 2).unwrap();
        let n = |tier| t.switches.iter().filter(|s| s.tier == tier).count();
        assert_eq!(
            (n(Tier::Edge), n(Tier::Aggregation), n(Tier::Core)),
            (8, 8, 4)
        );
        // k³/4 host ports' worth of uplinks: k pods × (k/2)² twice.
        assert_eq!(t.links.len(), 16 + 16);
        for s in &t.switches {
            let want = match s.tier {
                Tier::Edge => 2,
                _ => 4,
            };
            assert_eq!(s.ports.len(), want, "{}", s.name);
        }
    }

    #[test]
    fn three_tier_of_the_seed() {
        let t = Topology::build(Shape::ThreeTier, 100, 10_000).unwrap();
        assert_eq!(t.hosts(), 1_000_000);
        assert_eq!(t.switches.len(), 100 + 10 + CORES);
        assert_eq!(t.links.len(), 200 + 10 * CORES);
        for l in &t.links {
            let (a, b) = (&t.switches[l.a], &t.switches[l.b]);
            assert_eq!(
                a.ports[l.pa as usize],
                (t.links.iter().position(|x| x == l).unwrap(), l.b)
            );
            assert_eq!(b.ports[l.pb as usize].1, l.a);
        }
    }

    #[test]
    fn too_many_ports_is_refused() {
        assert!(Topology::build(Shape::LeafSpine { spines: 2 }, 100, 1)
            .unwrap_err()
            .contains("at most 64"));
        assert!(Topology::build(Shape::FatTree { k: 3 }, 0, 1).is_err());
    }
}
