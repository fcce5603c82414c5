//! The monitoring files of `deploy/` against a real Prometheus scraping
//! real switches.
//!
//! Two MOOSE switches joined by a fabric link (`prefix = "auto"`, the
//! link-state protocol), four real Linux hosts: h0 on S1's edge port, h1
//! and h2 on S1's legacy ports, h3 on S2's edge port; they ping each other
//! (bridged among the legacy ports, translated and routed beyond) and keep
//! a ping running. A Prometheus (`/usr/bin/prometheus`, from the Debian
//! package) runs from `deploy/prometheus.yml` itself, its target line
//! rewritten to the two switches and its intervals to 1 s, with
//! `deploy/moose-alerts.yml` as its rule file. Then:
//!
//! * `promtool check config` and `check rules` accept the files, and
//!   `promtool check metrics` finds nothing to say about either switch's
//!   `/metrics` (units, `_total` on counters and only on counters);
//! * every query of every panel of `deploy/grafana-dashboard.json`, and of
//!   its template variables, returns data (Grafana's variables replaced);
//! * every alert rule is healthy in Prometheus, and every operand of its
//!   comparisons and set operators returns data;
//! * every metric name any of those expressions selects has series
//!   (`count(name)`): a panel or a rule naming a metric that moose does
//!   not export fails here, even where the expression alone would just be
//!   empty;
//! * no port or neighbour alert is pending while everything is up; once
//!   the fabric link is cut, `MoosePortDown` (both fabric ports) and
//!   `MooseRoutingNeighborLost` (both switches) are.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{sh, unique_tag, Testbed, VethPair};
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---------------------------------------------------------------------------
// PromQL, as far as the checks need it.

/// Skips a quoted string starting at `i` (the quote); the index after it.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let q = b[i];
    i += 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' && q != b'`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Skips a bracketed group starting at `i` (`open`), strings inside it
/// included; the index after its `close`.
fn skip_group(b: &[u8], mut i: usize, open: u8, close: u8) -> usize {
    let mut depth = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The metric names a PromQL expression selects: identifiers outside
/// strings, label matchers `{…}` and ranges `[…]` that are not a function
/// (followed by `(`), an aggregation (followed by `by` or `without`), an
/// operator keyword, or in the label list of a grouping or matching
/// clause (`by (…)`, `on (…)`, `group_left (…)`, …).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: &[&str] = &[
        "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
    ];
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(b, i);
        } else if c == b'{' {
            i = skip_group(b, i, b'{', b'}');
        } else if c == b'[' {
            i = skip_group(b, i, b'[', b']');
        } else if c.is_ascii_digit() || c == b'.' {
            // Numbers and durations (`0.9`, `1e3`, `5m`).
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if ident_start(c) {
            let start = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let call = j < b.len() && b[j] == b'(';
            // An aggregation with its clause first: `sum by (…) (…)`.
            let mut k = j;
            while k < b.len() && ident_char(b[k]) {
                k += 1;
            }
            let aggregation = matches!(&expr[j..k], "by" | "without");
            if GROUPING.contains(&word) {
                if call {
                    i = skip_group(b, j, b'(', b')');
                }
            } else if !call && !aggregation && !KEYWORDS.contains(&word) {
                names.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The operands of an expression's comparisons (`==`, `!=`, `>=`, `<=`,
/// `>`, `<`) and set operators (`and`, `or`, `unless`), those outside
/// every bracket and string; the expression itself if it has none. A
/// modifier that opens an operand (`bool`, `on (…)`, `ignoring (…)`,
/// `group_left (…)`, `group_right (…)`) is left out of it. An alert's
/// expression is empty while it does not fire, its operands are not.
fn operands(expr: &str) -> Vec<&str> {
    let b = expr.as_bytes();
    let mut cuts = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b'=' | b'!' | b'<' | b'>' if depth == 0 => {
                let two = b.get(i + 1) == Some(&b'=');
                let len = if two { 2 } else { 1 };
                if b[i] == b'<' || b[i] == b'>' || two {
                    cuts.push((i, i + len));
                }
                i += len;
                continue;
            }
            c if depth == 0 && ident_start(c) && (i == 0 || !ident_char(b[i - 1])) => {
                let mut end = i;
                while end < b.len() && ident_char(b[end]) {
                    end += 1;
                }
                if matches!(&expr[i..end], "and" | "or" | "unless") {
                    cuts.push((i, end));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = Vec::new();
    let mut from = 0;
    for (a, z) in cuts.into_iter().chain([(b.len(), b.len())]) {
        out.push(strip_modifiers(&expr[from..a]));
        from = z;
    }
    out
}

/// An operand without the modifiers of the operator before it.
fn strip_modifiers(mut s: &str) -> &str {
    loop {
        s = s.trim();
        let word_end = s.find(|c: char| !ident_char(c as u8)).unwrap_or(s.len());
        match &s[..word_end] {
            "bool" => s = &s[word_end..],
            "on" | "ignoring" | "group_left" | "group_right" => {
                let rest = s[word_end..].trim_start();
                s = if rest.starts_with('(') {
                    let off = s.len() - rest.len();
                    &s[off + skip_group(rest.as_bytes(), 0, b'(', b')')..]
                } else {
                    rest
                };
            }
            _ => return s,
        }
    }
}

/// Grafana's variables of the dashboard replaced by what the test's
/// Prometheus needs: `$instance` (every switch), `$__rate_interval` (a
/// minute: at least two 1 s scrapes once the test queries). Any other
/// variable is an error, so that a new one is not sent to Prometheus as
/// text.
fn substitute(expr: &str) -> Result<String, String> {
    let vars: BTreeMap<&str, &str> = [
        ("instance", ".+"),
        ("__rate_interval", "1m"),
        ("__interval", "5s"),
    ]
    .into();
    let b = expr.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let next = expr[i..].find('$').map_or(b.len(), |n| i + n);
            out.push_str(&expr[i..next]);
            i = next;
            continue;
        }
        let braced = b.get(i + 1) == Some(&b'{');
        let start = i + 1 + usize::from(braced);
        let mut end = start;
        while end < b.len() && ident_char(b[end]) {
            end += 1;
        }
        let name = &expr[start..end];
        let value = vars
            .get(name)
            .ok_or_else(|| format!("{expr}: Grafana variable ${name} the test does not know"))?;
        out.push_str(value);
        i = end + usize::from(braced);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The dashboard.

fn dashboard() -> Value {
    let path = repo("deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Every panel, those inside collapsed rows included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// (panel title, expression) of every query of every panel.
fn panel_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr: {t}"));
            out.push((title, expr.to_string()));
        }
    }
    out
}

/// The query variables' `label_values(metric, label)` as PromQL that
/// returns data exactly when the variable has values.
fn variable_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .expect("a variable's query");
        let args = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{q}: only label_values(metric, label) is checked"));
        let (metric, label) = args.rsplit_once(',').expect("label_values(metric, label)");
        out.push((
            format!("variable {}", v["name"]),
            format!("count by ({}) ({})", label.trim(), metric.trim()),
        ));
    }
    out
}

#[test]
fn metric_names_finds_every_selected_metric() {
    let cases: &[(&str, &[&str])] = &[
        ("up{job=\"moose\"} == 0", &["up"]),
        (
            "sum by (instance, port, reason) (rate(moose_port_drops_total{reason!~\"a|b\"}[5m])) > 1",
            &["moose_port_drops_total"],
        ),
        (
            "sum by (instance, worker) (rate(a_total[1m])) / on (instance) group_left () b_hertz",
            &["a_total", "b_hertz"],
        ),
        ("1 - x / y", &["x", "y"]),
        ("z{l=\"}{ by (\"} offset 5m unless w", &["w", "z"]),
        (
            "max_over_time(n{state=\"full\"}[1h]) and ignoring (state) m",
            &["m", "n"],
        ),
        ("count by (instance) (moose_info)", &["moose_info"]),
        ("sum without (worker) (v) + sum(u) by (port)", &["u", "v"]),
        ("a_total + 0.9 * b:c", &["a_total", "b:c"]),
    ];
    for (expr, want) in cases {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(got, *want, "{expr}");
    }
}

#[test]
fn operands_are_cut_at_the_top_level_only() {
    assert_eq!(
        operands("a{x=\"1\", y!=\"2\", z=~\">\"} >= 3"),
        ["a{x=\"1\", y!=\"2\", z=~\">\"}", "3"]
    );
    assert_eq!(
        operands("sum by (i) (a) < sum by (i) (max_over_time(a[1h]))"),
        ["sum by (i) (a)", "sum by (i) (max_over_time(a[1h]))"]
    );
    assert_eq!(operands("rate(a[5m]) / b"), ["rate(a[5m]) / b"]);
    assert_eq!(
        operands("a / b > 0.9 or c > bool 1e9 unless on (x) group_left () d"),
        ["a / b", "0.9", "c", "1e9", "d"]
    );
    assert_eq!(operands("order > 0"), ["order", "0"]);
}

#[test]
fn grafana_variables_are_replaced_and_unknown_ones_refused() {
    assert_eq!(
        substitute("rate(a{instance=~\"$instance\"}[$__rate_interval])").unwrap(),
        "rate(a{instance=~\".+\"}[1m])"
    );
    assert_eq!(substitute("b[${__interval}]").unwrap(), "b[5s]");
    let e = substitute("c{port=\"$port\"}").unwrap_err();
    assert!(e.contains("$port"), "{e}");
}

/// What Grafana needs to import the dashboard anywhere: a data source
/// chosen at import (`DS_PROMETHEUS`) behind a `datasource` variable that
/// every panel and query uses; unique panel ids; panels inside the grid;
/// a query in every panel that is not a row.
#[test]
fn the_dashboard_imports_anywhere() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    assert_eq!(ds["current"]["value"], "${DS_PROMETHEUS}");
    let want = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().expect("a title");
        assert!(ids.insert(p["id"].as_u64().expect("an id")), "{title}: id");
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(x + w <= 24 && g["h"].as_u64().unwrap() > 0, "{title}: {g}");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"], want, "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"], want, "{title}: {t}");
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"], want, "variable {}", v["name"]);
    }
    assert!(panel_queries(&d).len() >= 40, "a dashboard of a few panels");
}

// ---------------------------------------------------------------------------
// Prometheus.

/// A Prometheus server on a scratch directory, killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(config: &Path, data: &Path, log: PathBuf) -> Prometheus {
        let addr = free_addr();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{PROMETHEUS}: {e} (tests/setup.sh installs prometheus)"));
        let mut p = Prometheus { child, addr, log };
        wait_for(Duration::from_secs(30), "Prometheus ready", || {
            assert!(
                p.child.try_wait().unwrap().is_none(),
                "Prometheus exited: {}",
                p.log_text()
            );
            http(&p.addr, "GET", "/-/ready")
                .ok()
                .filter(|r| r.status == 200)
        });
        p
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` of the HTTP API, `data` of a `success` answer.
    fn api(&self, path: &str) -> Result<Value, String> {
        let r = http(&self.addr, "GET", path).map_err(|e| format!("GET {path}: {e}"))?;
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("GET {path}: {e}: {}", r.text()))?;
        if r.status != 200 || v["status"] != "success" {
            return Err(format!("GET {path}: {} {v}", r.status));
        }
        Ok(v["data"].clone())
    }

    /// An instant query: its result vector (an error for a bad query or a
    /// result that is not a vector).
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(expr)))?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            Some("scalar") => Ok(vec![data["result"].clone()]),
            t => Err(format!("{expr}: a {t:?} result")),
        }
    }

    /// The alerts pending or firing now, as (alertname, instance, port).
    fn alerts(&self) -> Vec<(String, String, String)> {
        let data = self.api("/api/v1/alerts").unwrap_or_else(|e| panic!("{e}"));
        let label = |a: &Value, k: &str| a["labels"][k].as_str().unwrap_or("").to_string();
        data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    label(a, "alertname"),
                    label(a, "instance"),
                    label(a, "port"),
                )
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding of a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a promtool subcommand; its output, which must say success.
fn promtool(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(PROMTOOL);
    cmd.args(args);
    let out = match stdin {
        None => cmd
            .output()
            .unwrap_or_else(|e| panic!("{PROMTOOL}: {e} (tests/setup.sh installs prometheus)")),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{PROMTOOL}: {e}"));
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {text}");
    text
}

/// `text` with `from` replaced by `to`, which must occur exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "deploy/prometheus.yml: {from:?} once (the test rewrites it)"
    );
    text.replacen(from, to, 1)
}

// ---------------------------------------------------------------------------
// The lab.

/// A background command, killed if the test fails before it is stopped
/// (a ping left running would keep its namespace alive).
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Sw {
    listen: String,
    app: Moose,
}

fn switch_config(name: &str, listen: &str, ports: &[(&str, &str, &str)]) -> String {
    let mut c = format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n[metrics]\nlisten = \"{listen}\"\n[moose]\nprefix = \"auto\"\n[routing]\nhello_interval_ms = 100\ndead_interval_ms = 400\n",
        eal(name)
    );
    for (i, (port, role, iface)) in ports.iter().enumerate() {
        c += &format!(
            "[[port]]\nname = \"{port}\"\nrole = \"{role}\"\ndevice = \"net_af_packet{i},iface={iface}\"\n"
        );
    }
    c
}

#[test]
fn the_dashboard_and_the_alerts_against_a_real_prometheus() {
    let t0 = Instant::now();
    let tag = unique_tag("pm");
    let tb = Testbed::new(&tag, 4, 93).expect("testbed (needs root)");
    let link = VethPair::new(&format!("{tag}f1"), &format!("{tag}f2")).expect("fabric link");
    let scratch = Scratch::new("prometheus");
    let h = &tb.hosts;
    let layout: [Vec<(&str, &str, &str)>; 2] = [
        vec![
            ("f0", "fabric", &link.a),
            ("e1", "edge", &h[0].port_if),
            ("l1", "legacy", &h[1].port_if),
            ("l2", "legacy", &h[2].port_if),
        ],
        vec![("f0", "fabric", &link.b), ("e1", "edge", &h[3].port_if)],
    ];
    let sw: Vec<Sw> = layout
        .iter()
        .enumerate()
        .map(|(k, ports)| {
            let name = format!("prom-s{}", k + 1);
            let listen = free_addr();
            let cfg = scratch.write(
                &format!("s{}.toml", k + 1),
                &switch_config(&name, &listen, ports),
            );
            let app = Moose::start(&cfg, &[], &[], &listen);
            Sw { listen, app }
        })
        .collect();
    for s in &sw {
        wait_converged(&s.listen, 1, Duration::from_secs(30));
    }

    // Traffic: among the legacy ports (FDB), edge to edge across the
    // fabric (hosts, routes, rewrites), legacy to remote edge; then a ping
    // that runs until the end, so that every rate has frames to show.
    for (a, b) in [(1, 2), (0, 3), (1, 3), (2, 0)] {
        assert!(
            h[a].ping(&h[b].ip, 3),
            "h{a} -> h{b}; S1 stderr:\n{}",
            sw[0].app.stderr()
        );
    }
    let mut background = KillOnDrop(Some(
        h[1].spawn(&["ping", "-i", "0.2", &h[3].ip]).expect("ping"),
    ));

    // Prometheus from deploy/prometheus.yml: the target line and the
    // intervals rewritten, the rule file beside it as in /usr/share/moose.
    let deployed = std::fs::read_to_string(repo("deploy/prometheus.yml")).unwrap();
    let targets = sw
        .iter()
        .map(|s| format!("\"{}\"", s.listen))
        .collect::<Vec<_>>()
        .join(", ");
    let mut config = replace_once(
        &deployed,
        "targets: [\"127.0.0.1:9477\"]",
        &format!("targets: [{targets}]"),
    );
    config = replace_once(&config, "scrape_interval: 15s", "scrape_interval: 1s");
    config = replace_once(
        &config,
        "evaluation_interval: 15s",
        "evaluation_interval: 1s",
    );
    let config_path = scratch.write("prometheus.yml", &config);
    std::fs::copy(
        repo("deploy/moose-alerts.yml"),
        scratch.path("moose-alerts.yml"),
    )
    .unwrap();
    let rules_out = promtool(
        &[
            "check",
            "rules",
            repo("deploy/moose-alerts.yml").to_str().unwrap(),
        ],
        None,
    );
    promtool(
        &[
            "check",
            "config",
            repo("deploy/prometheus.yml").to_str().unwrap(),
        ],
        None,
    );
    promtool(&["check", "config", config_path.to_str().unwrap()], None);
    for s in &sw {
        let out = promtool(&["check", "metrics"], Some(&s.app.get("/metrics")));
        assert!(
            out.trim().is_empty(),
            "{}: promtool check metrics:\n{out}",
            s.listen
        );
    }

    let data = scratch.path("tsdb");
    let prom = Prometheus::start(&config_path, &data, scratch.path("prometheus.log"));
    let instances: BTreeSet<String> = sw.iter().map(|s| s.listen.clone()).collect();
    // Both targets up, and at least three scrapes of each in the last
    // minute, so that rate() over a minute has two samples to work with.
    wait_for(
        Duration::from_secs(30),
        "three scrapes of each switch",
        || {
            let r = prom
                .query("count_over_time(moose_uptime_seconds[1m]) >= 3")
                .ok()?;
            let seen: BTreeSet<String> = r
                .iter()
                .filter_map(|s| s["metric"]["instance"].as_str().map(str::to_string))
                .collect();
            (seen == instances).then_some(())
        },
    );
    let up = prom.api("/api/v1/targets").unwrap();
    let active = up["activeTargets"].as_array().expect("activeTargets");
    assert_eq!(active.len(), 2, "{up}");
    assert!(active.iter().all(|t| t["health"] == "up"), "targets: {up}");

    // Every alert rule Prometheus loaded, healthy once evaluated.
    let d = dashboard();
    let rules = wait_for(Duration::from_secs(20), "every rule evaluated", || {
        let data = prom.api("/api/v1/rules").ok()?;
        let rules: Vec<Value> = data["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        rules.iter().all(|r| r["health"] == "ok").then_some(rules)
    });
    assert!(
        rules_out.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "Prometheus loaded {} rules; promtool: {rules_out}",
        rules.len()
    );
    for r in &rules {
        assert_eq!(r["type"], "alerting", "{r}");
    }

    // What must return data: every panel query and variable, and every
    // operand of every rule (the whole rule is empty while it does not
    // fire); and `count(name)` of every name any of them selects.
    let mut checks: Vec<(String, String)> = panel_queries(&d)
        .into_iter()
        .map(|(title, e)| {
            let e = substitute(&e).unwrap_or_else(|err| panic!("panel {title:?}: {err}"));
            (format!("panel {title:?}"), e)
        })
        .collect();
    checks.extend(variable_queries(&d));
    for r in &rules {
        let name = r["name"].as_str().unwrap();
        let expr = r["query"].as_str().unwrap();
        // The whole expression is valid, whether or not it fires now.
        prom.query(expr)
            .unwrap_or_else(|e| panic!("rule {name}: {e}"));
        for side in operands(expr) {
            if side.parse::<f64>().is_err() {
                checks.push((format!("rule {name}"), side.to_string()));
            }
        }
    }
    let mut names = BTreeSet::new();
    for (_, e) in &checks {
        names.extend(metric_names(e));
    }
    // The dashboard alone names over a hundred series: far fewer found
    // means the name finder missed some, and the check below proves less.
    assert!(names.len() >= 60, "names found: {names:?}");
    let exported = sw[0].app.get("/metrics");
    for n in &names {
        checks.push((format!("metric {n}"), format!("count({n})")));
    }
    // Data can lag a scrape behind (a rate's second sample), and one
    // scrape that fails or misses the control thread's answer on a loaded
    // machine marks series stale until the next: every check is asked
    // once, those without data again, until none is left or the deadline
    // passes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pending: Vec<&(String, String)> = checks.iter().collect();
    let mut failed = Vec::new();
    loop {
        failed.clear();
        pending.retain(|(what, expr)| match prom.query(expr) {
            Ok(v) if !v.is_empty() => false,
            Ok(_) => {
                failed.push(format!("{what}: no data for {expr}"));
                true
            }
            Err(e) => {
                failed.push(format!("{what}: {e}"));
                true
            }
        });
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}\ntargets: {}\nPrometheus log:\n{}",
        failed.len(),
        checks.len(),
        failed.join("\n"),
        prom.api("/api/v1/targets").unwrap_or_default(),
        prom.log_text()
    );
    // For the reader: exported families no panel or rule shows.
    let unused: Vec<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|f| {
            !names.iter().any(|n| {
                n == f || n.strip_suffix("_sum") == Some(f) || n.strip_suffix("_count") == Some(f)
            })
        })
        .collect();
    eprintln!(
        "{} checks passed ({} metric names); families not on the dashboard or in a rule: {unused:?}",
        checks.len(),
        names.len()
    );

    // Alerts: nothing about ports or neighbours while all is up; then the
    // fabric link is cut (both ends lose carrier).
    let watched = ["MoosePortDown", "MooseRoutingNeighborLost"];
    let now = prom.alerts();
    assert!(
        !now.iter().any(|a| watched.contains(&a.0.as_str())),
        "alerts with everything up: {now:?}"
    );
    sh(&["ip", "link", "set", &link.a, "down"]).expect("cut the fabric link");
    let mut want: BTreeSet<(String, String, String)> = BTreeSet::new();
    for s in &sw {
        want.insert(("MoosePortDown".into(), s.listen.clone(), "f0".into()));
        want.insert((
            "MooseRoutingNeighborLost".into(),
            s.listen.clone(),
            String::new(),
        ));
    }
    let seen = wait_for(
        Duration::from_secs(30),
        "port-down and neighbour-lost alerts",
        || {
            let got: BTreeSet<_> = prom.alerts().into_iter().collect();
            want.is_subset(&got).then_some(got)
        },
    );
    let (sent, received) = stop_ping(background.0.take().unwrap());
    assert!(received > 0 && sent >= received, "{received}/{sent}");
    eprintln!(
        "alerts after the cut: {seen:?}; {} s in all",
        t0.elapsed().as_secs_f64()
    );
    drop(prom);
    for s in sw {
        s.app.stop();
    }
}
