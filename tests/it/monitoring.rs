//! The monitoring files under `deploy/`: the Prometheus alert rules parse,
//! cover what an operator must hear about, and every `switchboard_*` metric
//! they or the Grafana dashboard name is one a running daemon exports;
//! `promtool check rules` accepts them where it is installed.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::TestApp;

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

/// The rules of an alert rules file: (alert name, its `expr`, block
/// scalars included), read line by line (the file's shape is fixed:
/// `groups:` → `rules:` → `- alert:` entries).
fn rules(yaml: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            out.push((name.trim().to_owned(), String::new()));
        } else if let Some(expr) = line.strip_prefix("expr:") {
            let mut expr = expr.trim().to_owned();
            if expr == "|" || expr == ">" {
                let base = indent(lines[i]);
                expr.clear();
                while i + 1 < lines.len() && (lines[i + 1].trim().is_empty() || indent(lines[i + 1]) > base) {
                    i += 1;
                    expr.push_str(lines[i].trim());
                    expr.push(' ');
                }
            }
            let rule = out.last_mut().expect("an expr belongs to an alert");
            assert!(rule.1.is_empty(), "alert {} has two exprs", rule.0);
            rule.1 = expr.trim().to_owned();
        }
        i += 1;
    }
    out
}

/// The `expr` strings anywhere in a Grafana dashboard.
fn grafana_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => grafana_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| grafana_exprs(v, out)),
        _ => {}
    }
}

fn metric_names(expr: &str) -> BTreeSet<String> {
    regex::Regex::new(r"\bswitchboard_[a-z0-9_]+").unwrap().find_iter(expr).map(|m| m.as_str().to_owned()).collect()
}

/// The sample names `/metrics` exports, from its `# TYPE` lines: a counter
/// `x` as `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`.
fn exported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        match kind {
            "counter" => {
                out.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn the_alert_rules_and_the_dashboard_name_only_exported_metrics() {
    let rules_path = deploy("prometheus/alerts.yml");
    let yaml = std::fs::read_to_string(&rules_path).unwrap();
    assert!(yaml.lines().any(|l| l.trim_end() == "groups:"), "no groups");
    let rules = rules(&yaml);
    assert!(rules.len() >= 6, "{rules:?}");
    for (name, expr) in &rules {
        assert!(!expr.is_empty(), "alert {name} has no expr");
        assert_eq!(expr.matches('(').count(), expr.matches(')').count(), "alert {name}: unbalanced parentheses in {expr}");
    }
    let mut named: BTreeSet<String> = rules.iter().flat_map(|(_, e)| metric_names(e)).collect();
    // What the rules must watch: queue waiting, longest wait, SLA breaches,
    // readiness, poison messages, dead letters.
    for needed in [
        "switchboard_queue_waiting",
        "switchboard_queue_longest_wait_seconds",
        "switchboard_sla_clocks_total",
        "switchboard_ready",
        "switchboard_poison_messages_total",
        "switchboard_dead_letters",
    ] {
        assert!(named.contains(needed), "no rule watches {needed}");
    }
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(deploy("grafana/switchboard.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    grafana_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    named.extend(exprs.iter().flat_map(|e| metric_names(e)));

    let app = TestApp::spawn_ready(
        "[queues.general]\n[agents.alice]\ntoken = \"alice-token\"\ncapacity = { sms = 1 }\n",
    )
    .await;
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    let exports = exported(&text);
    let missing: Vec<&String> = named.iter().filter(|m| !exports.contains(*m)).collect();
    assert!(missing.is_empty(), "named in deploy/ but not exported: {missing:?}\nexported: {exports:?}");
    app.stop().await;

    match std::process::Command::new("promtool").arg("check").arg("rules").arg(&rules_path).output() {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check rules failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => println!("note: promtool is not installed (Debian package `prometheus`); `promtool check rules` skipped"),
    }
}

#[test]
fn the_rules_reader_reads_block_scalars() {
    let rules = rules("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          sum(x)\n            / sum(y)\n        for: 1m\n      - alert: B\n        expr: up == 0\n");
    assert_eq!(rules, [("A".to_owned(), "sum(x) / sum(y)".to_owned()), ("B".to_owned(), "up == 0".to_owned())]);
    assert_eq!(metric_names("rate(switchboard_a_total[5m]) / switchboard_b"), ["switchboard_a_total".to_owned(), "switchboard_b".to_owned()].into());
    let e = exported("# TYPE switchboard_x counter\n# TYPE switchboard_h histogram\n# TYPE switchboard_g gauge\n");
    assert!(e.contains("switchboard_x_total") && e.contains("switchboard_h_bucket") && e.contains("switchboard_g"));
}
