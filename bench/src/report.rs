//! Printing a run for people: a short summary of one scenario, in the same words the suite
//! table uses.

use std::fmt::Write;

use crate::coordinator::{RunReport, Scenario};

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// A human-readable summary of one run.
pub fn summary(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "herald-bench {} over {}{} against {}",
        r.scenario.name(),
        r.transport.as_str(),
        if r.ack {
            " with acknowledged delivery (ext.ack)"
        } else {
            ""
        },
        r.url
    );
    let shape = match r.scenario {
        Scenario::Fanout => format!(
            "{} subscribers, 1 publisher at {}/s for {} s",
            r.clients, r.rate, r.duration_s
        ),
        Scenario::Chat => format!(
            "{} clients in rooms of {}, each publishing {}/s for {} s",
            r.clients, r.room_size, r.rate, r.duration_s
        ),
        Scenario::Idle => format!("{} clients holding /meta/connect", r.clients),
        Scenario::MaxRate => format!("{} subscribers, publish rate ramped", r.clients),
    };
    let _ = writeln!(
        s,
        "  {shape}; {} worker process(es); {} ({} cores here)",
        r.procs,
        r.note,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        s,
        "  setup: {} clients ready, {} failed, {:.1} s{}",
        r.setup.ready,
        r.setup.failed,
        r.setup.secs,
        r.setup
            .first_error
            .as_deref()
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default()
    );
    if let Some(i) = &r.idle {
        let _ = writeln!(
            s,
            "  memory: server RSS {:.1} MiB with {} clients connected, {:.0} bytes per client over the baseline",
            mib(i.rss_connected_kb),
            i.connected,
            i.bytes_per_client
        );
    }
    for p in &r.phases {
        let tag = match p.passed {
            Some(true) => " [kept up]",
            Some(false) => " [fell behind]",
            None => "",
        };
        let _ = writeln!(
            s,
            "  phase {} at {:.1}/s{tag}: published {} ({} errors), delivered {} of {} ({:.0}/s), lost {}, duplicates {}, late {}",
            p.phase,
            p.rate,
            p.published,
            p.publish_errors,
            p.received,
            p.expected,
            p.delivered_per_s,
            p.lost,
            p.duplicates,
            p.stale
        );
        let l = &p.latency;
        let _ = writeln!(
            s,
            "    latency ms: p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (mean {:.2}, {} samples)",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms, l.count
        );
    }
    if let Some(m) = &r.max_rate {
        let _ = writeln!(
            s,
            "  max rate: {:.0} publishes/s kept up ({:.0} deliveries/s, p99 {:.1} ms ≤ {:.0} ms); stopped: {}",
            m.best_rate, m.best_delivered_per_s, m.best_p99_ms, m.p99_bound_ms, m.stopped_because
        );
    }
    let _ = writeln!(
        s,
        "  lost messages: {}   transport errors {}, failed replies {}, re-handshakes {}, connects {}",
        r.lost,
        r.counters.errors,
        r.counters.failures,
        r.counters.rehandshakes,
        r.counters.connects
    );
    if r.ack {
        let _ = writeln!(
            s,
            "  ack: {} connect replies carried a batch number; {} handshakes did not grant acknowledged delivery",
            r.counters.ack_batches, r.counters.ack_refused
        );
    }
    if let Some(e) = &r.counters.first_error {
        let _ = writeln!(s, "  first error: {e}");
    }
    match &r.server {
        Some(sv) => {
            let _ = writeln!(
                s,
                "  server pid {}: RSS {:.1} MiB before, peak {:.1} MiB; CPU {:.0}% of one core",
                sv.pid,
                mib(sv.rss_baseline_kb),
                mib(sv.rss_peak_kb),
                sv.cpu_pct
            );
        }
        None => {
            let _ = writeln!(s, "  server RSS: not measured (pass --server-pid)");
        }
    }
    let _ = writeln!(
        s,
        "  load generator CPU {:.0}% of one core ({} process(es)); everything else on the machine {:.0}%; ran {:.1} s",
        r.generator_cpu_pct, r.procs, r.other_cpu_pct, r.elapsed_s
    );
    s
}
