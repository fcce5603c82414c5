//! Merging EAL arguments: the config's `dataplane.eal`, then the command
//! line's (after `--`). A command-line option replaces the config's option of
//! the same name, except options that may repeat (`--vdev`, `-a`, `-b`,
//! `--log-level`, ...), which add.

const REPEATABLE: &[&str] = &[
    "--vdev",
    "-a",
    "--allow",
    "-b",
    "--block",
    "--log-level",
    "-d",
];
const FLAGS: &[&str] = &[
    "--no-huge",
    "--no-pci",
    "--in-memory",
    "--no-telemetry",
    "--no-shconf",
    "--no-hpet",
    "-v",
    "--legacy-mem",
    "--single-file-segments",
    "--match-allocations",
    "--create-uio-dev",
];

/// One option with its value(s), as tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    name: String,
    tokens: Vec<String>,
}

fn items(args: &[String]) -> Vec<Item> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let (name, takes_next) = if let Some((n, _)) = a.split_once('=') {
            (n.to_string(), false)
        } else if a.starts_with('-') && !FLAGS.contains(&a.as_str()) {
            let next_is_value = args.get(i + 1).is_some_and(|n| !n.starts_with('-'));
            // short options written together with their value: -l0,1 -m512
            if !a.starts_with("--") && a.len() > 2 {
                (a[..2].to_string(), false)
            } else {
                (a.clone(), next_is_value)
            }
        } else {
            (a.clone(), false)
        };
        let mut tokens = vec![a.clone()];
        if takes_next {
            tokens.push(args[i + 1].clone());
            i += 1;
        }
        out.push(Item { name, tokens });
        i += 1;
    }
    out
}

/// The merged argument list (without the program name).
pub fn merge(config: &[String], cli: &[String]) -> Vec<String> {
    let cli_items = items(cli);
    let mut merged: Vec<Item> = items(config)
        .into_iter()
        .filter(|c| {
            REPEATABLE.contains(&c.name.as_str()) || !cli_items.iter().any(|o| o.name == c.name)
        })
        .collect();
    merged.extend(cli_items);
    merged.into_iter().flat_map(|i| i.tokens).collect()
}

/// True if the arguments choose the EAL's cores themselves.
pub fn sets_lcores(args: &[String]) -> bool {
    items(args)
        .iter()
        .any(|i| ["-l", "-c", "--lcores"].contains(&i.name.as_str()))
}

/// The value of the last `name` option (`--file-prefix=x` or
/// `--file-prefix x`), if any.
fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v);
        } else if a == name {
            found = args.get(i + 1).map(String::as_str);
            i += 1;
        }
        i += 1;
    }
    found
}

/// The EAL's file prefix: the name DPDK's tools attach by
/// (`dpdk-dumpcap --file-prefix=P`, `dpdk-telemetry.py -f P`); DPDK's
/// default `rte` without one.
pub fn file_prefix(args: &[String]) -> &str {
    value(args, "--file-prefix").unwrap_or("rte")
}

/// How DPDK's tools reach a moose run with these EAL arguments, for the
/// log: `dpdk-telemetry.py` by the file prefix unless `--no-telemetry`;
/// `dpdk-dumpcap`, a secondary process, only with shared config (no
/// `--in-memory`, `--no-shconf`), hugepages (a secondary maps the
/// primary's memory from its hugepage files) and `multi_process` (worker
/// threads not registered with the EAL).
pub fn tools_hint(args: &[String], multi_process: bool) -> String {
    let prefix = file_prefix(args);
    let has = |f: &str| args.iter().any(|a| a == f);
    let telemetry = if has("--no-telemetry") {
        "no telemetry (--no-telemetry)".to_string()
    } else {
        format!("telemetry with dpdk-telemetry.py -f {prefix}")
    };
    let capture = if let Some(f) = ["--in-memory", "--no-shconf"].into_iter().find(|f| has(f)) {
        format!("no dpdk-dumpcap ({f}: no secondary process can attach)")
    } else if has("--no-huge") {
        "no dpdk-dumpcap (--no-huge: a secondary process needs hugepages)".to_string()
    } else if !multi_process {
        "no dpdk-dumpcap (set dataplane.multi_process = true to let it attach)".to_string()
    } else {
        format!("capture with dpdk-dumpcap --file-prefix={prefix} -i PORT")
    };
    format!("EAL file prefix {prefix:?}: {telemetry}; {capture}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn cli_overrides_config() {
        let m = merge(
            &v("--no-huge -m 512 --no-pci --file-prefix=s1"),
            &v("-m 1024 --file-prefix=x"),
        );
        assert_eq!(m, v("--no-huge --no-pci -m 1024 --file-prefix=x"));
    }

    #[test]
    fn repeatable_options_add() {
        let m = merge(
            &v("--vdev=net_null0 --log-level lib.eal:debug"),
            &v("--vdev net_null1 --log-level=pmd:info"),
        );
        assert_eq!(
            m,
            v("--vdev=net_null0 --log-level lib.eal:debug --vdev net_null1 --log-level=pmd:info")
        );
    }

    #[test]
    fn joined_short_options() {
        let m = merge(&v("-l0 -m512"), &v("-l 1"));
        assert_eq!(m, v("-m512 -l 1"));
        assert!(sets_lcores(&v("--no-huge -l0,1")));
        assert!(!sets_lcores(&v("--no-huge -m 64")));
    }

    #[test]
    fn file_prefix_is_the_last_given_or_rte() {
        assert_eq!(file_prefix(&v("--no-huge -m 512")), "rte");
        assert_eq!(file_prefix(&v("--file-prefix=a -m 512")), "a");
        assert_eq!(file_prefix(&v("--file-prefix a --file-prefix=b")), "b");
        assert_eq!(file_prefix(&v("--file-prefix=b --file-prefix c")), "c");
        assert_eq!(file_prefix(&v("--file-prefixes=x")), "rte");
    }

    #[test]
    fn tools_hint_says_what_attaches() {
        let h = tools_hint(&v("-m 64 --file-prefix=t1"), true);
        assert!(h.contains("dpdk-telemetry.py -f t1"), "{h}");
        assert!(h.contains("dpdk-dumpcap --file-prefix=t1"), "{h}");
        let h = tools_hint(&v("-m 64"), false);
        assert!(
            h.contains("-f rte") && h.contains("multi_process = true"),
            "{h}"
        );
        let h = tools_hint(&v("--no-huge -m 64 --no-telemetry"), true);
        assert!(h.contains("no telemetry") && h.contains("--no-huge"), "{h}");
        let h = tools_hint(&v("--in-memory"), true);
        assert!(h.contains("--in-memory: no secondary"), "{h}");
    }
}
