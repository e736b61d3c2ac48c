//! The storm's tables: one per drop and transport, a column per server set-up, and the
//! ratios herald ÷ each peer (above 1: herald's figure is higher, which for every row here,
//! times, failures, CPU and memory, is worse).

use std::fmt::Write as _;

use super::Outcome;
use crate::bayeux::Transport;

use super::DropKind;

/// A row: its name, how to read it, its decimals, whether a ratio means something.
type Row = (&'static str, fn(&Outcome) -> Option<f64>, usize, bool);

const ROWS: [Row; 17] = [
    (
        "clients set up before the drop",
        |o| Some(o.set_up as f64),
        0,
        false,
    ),
    (
        "server down (SIGTERM → listening), s",
        |o| o.down_s,
        2,
        false,
    ),
    ("all clients back, s", |o| o.all_back_s, 1, true),
    ("time back p50, s", |o| Some(o.p50_s), 2, true),
    ("time back p99, s", |o| Some(o.p99_s), 2, true),
    (
        "never back within the bound",
        |o| Some(o.never_back as f64),
        0,
        false,
    ),
    (
        "handshakes sent",
        |o| Some(o.counts.handshakes as f64),
        0,
        true,
    ),
    (
        "handshakes refused (successful: false)",
        |o| Some(o.counts.handshakes_refused as f64),
        0,
        false,
    ),
    (
        "handshakes failed in transport",
        |o| Some(o.counts.handshake_errors as f64),
        0,
        false,
    ),
    (
        "connects/subscribes failed in transport",
        |o| Some(o.counts.request_errors as f64),
        0,
        false,
    ),
    (
        "connects/subscribes unsuccessful",
        |o| Some(o.counts.unsuccessful as f64),
        0,
        false,
    ),
    (
        "SYNs dropped at a full accept queue",
        |o| Some(o.listen_drops as f64),
        0,
        false,
    ),
    (
        "server CPU peak (1 s), % of a core",
        |o| Some(o.cpu_peak_pct),
        0,
        true,
    ),
    (
        "server CPU mean, % of a core",
        |o| Some(o.cpu_mean_pct),
        0,
        true,
    ),
    ("server RSS peak, MiB", |o| Some(o.rss_peak_mib), 1, true),
    (
        "load generator CPU mean, %",
        |o| Some(o.generator_cpu_pct),
        0,
        false,
    ),
    (
        "other processes CPU mean, %",
        |o| Some(o.other_cpu_pct),
        0,
        false,
    ),
];

/// One line per run, for the progress log.
pub fn brief(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        return e.clone();
    }
    format!(
        "set up {}/{}; back {} (p50 {:.2} s, p99 {:.2} s, all {}); handshakes {} ({} refused, {} failed); CPU peak {:.0}%; RSS {:.0} MiB{}",
        o.set_up,
        o.clients,
        o.back,
        o.p50_s,
        o.p99_s,
        o.all_back_s.map_or("no".into(), |s| format!("{s:.1} s")),
        o.counts.handshakes,
        o.counts.handshakes_refused,
        o.counts.handshake_errors,
        o.cpu_peak_pct,
        o.rss_peak_mib,
        o.first_error.as_ref().map_or(String::new(), |e| {
            format!("; first error: {}", e.chars().take(100).collect::<String>())
        })
    )
}

fn value(o: Option<&Outcome>, row: &Row) -> (String, Option<f64>) {
    match o {
        None => ("-".into(), None),
        Some(o) if o.error.is_some() => {
            let e = o.error.as_deref().unwrap_or("");
            (
                (if e.starts_with("n/a") { "n/a" } else { "error" }).into(),
                None,
            )
        }
        Some(o) => match (row.1)(o) {
            Some(v) => (format!("{v:.*}", row.2), Some(v)),
            None => ("-".into(), None),
        },
    }
}

/// The tables in markdown, then the errors in full.
pub fn markdown(
    outcomes: &[Outcome],
    drops: &[DropKind],
    transports: &[Transport],
    labels: &[String],
) -> String {
    let mut s = String::new();
    let herald = labels.iter().any(|l| l == "herald");
    let peers: Vec<&String> = labels
        .iter()
        .filter(|l| *l == "faye" || *l == "cometd")
        .collect();
    for d in drops {
        let d = format!("{d:?}").to_lowercase();
        for t in transports {
            let _ = writeln!(s, "\n### {d}, {}\n", t.as_str());
            let mut head = String::from("| |");
            let mut rule = String::from("|---|");
            for l in labels {
                let _ = write!(head, " {l} |");
                rule.push_str("---:|");
            }
            if herald {
                for p in &peers {
                    let _ = write!(head, " herald ÷ {p} |");
                    rule.push_str("---:|");
                }
            }
            let _ = writeln!(s, "{head}\n{rule}");
            let find = |l: &str| {
                outcomes
                    .iter()
                    .find(|o| o.drop == d && o.transport == t.as_str() && o.label == l)
            };
            for row in &ROWS {
                let _ = write!(s, "| {} |", row.0);
                for l in labels {
                    let _ = write!(s, " {} |", value(find(l), row).0);
                }
                if herald {
                    let h = value(find("herald"), row).1;
                    for p in &peers {
                        let r = match (h, value(find(p), row).1) {
                            (Some(h), Some(v)) if row.3 && v > 0.0 => format!("{:.2}", h / v),
                            _ => String::new(),
                        };
                        let _ = write!(s, " {r} |");
                    }
                }
                s.push('\n');
            }
        }
    }
    let errs: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.error.as_ref().is_some_and(|e| !e.starts_with("n/a")))
        .collect();
    if !errs.is_empty() {
        let _ = writeln!(s, "\nRuns without figures:");
        for o in errs {
            let _ = writeln!(
                s,
                "- {} / {} / {}: {}",
                o.drop,
                o.label,
                o.transport,
                o.error.as_deref().unwrap_or("?")
            );
        }
    }
    let mut versions: Vec<String> = Vec::new();
    for v in outcomes.iter().filter_map(|o| o.version.clone()) {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let _ = writeln!(s, "\nServers: {}", versions.join(", "));
    s
}
