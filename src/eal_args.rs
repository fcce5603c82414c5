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
}
