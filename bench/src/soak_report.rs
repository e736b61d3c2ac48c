//! The soak's report: loss and duplication per transport and per publisher, the server's
//! RSS samples with their least-squares slope after the warm-up, and the memory cycles.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::soak::SoakArgs;
use crate::soak_book::Tally;
use crate::soak_pub::Published;
use crate::soak_wire::Kind;
use crate::soak_worker::{Counts, WorkerResult};

/// One join-and-leave cycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cycle {
    pub joined: usize,
    pub rss_joined_kb: u64,
    pub rss_left_kb: u64,
}

/// CPU during the publishing window, in % of one core.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct CpuUse {
    pub herald_pct: f64,
    /// Everything on the machine (2 cores: at most 200 %), the load generator included.
    pub machine_pct: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassReport {
    pub kind: Kind,
    pub tally: Tally,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub clients: usize,
    pub mix: String,
    pub channels: usize,
    pub rate: f64,
    pub churn_mean_s: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub setup_failed: usize,
    pub cpu: CpuUse,
    pub classes: Vec<ClassReport>,
    pub total: Tally,
    /// Per channel (= per publisher): what its subscribers lost and got twice.
    pub by_channel: Vec<Tally>,
    pub publishers: Vec<Published>,
    pub foreign: u64,
    pub drain_ms: u64,
    pub first_errors: Vec<String>,
    pub rss_start_kb: u64,
    /// (seconds since publishing began, KiB), every 10 s.
    pub rss_samples: Vec<(f64, u64)>,
    pub rss_slope_kb_per_min: Option<f64>,
    pub rss_after_soak_kb: u64,
    pub cycles: Vec<Cycle>,
}

/// Least-squares slope of `y` over `x`.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn add_counts(a: &mut Counts, b: &Counts) {
    a.connects += b.connects;
    a.ack_batches += b.ack_batches;
    a.ack_refused += b.ack_refused;
    a.drops += b.drops;
    a.switches += b.switches;
    a.quits += b.quits;
    a.errors += b.errors;
    a.failures += b.failures;
    a.rehandshakes += b.rehandshakes;
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: &SoakArgs,
        setup_failed: usize,
        cpu: CpuUse,
        rss_start_kb: u64,
        rss_samples: Vec<(f64, u64)>,
        publishers: Vec<Published>,
        results: Vec<WorkerResult>,
        rss_after_soak_kb: u64,
        cycles: Vec<Cycle>,
    ) -> Report {
        let mut classes: Vec<ClassReport> = Kind::ALL
            .iter()
            .map(|&kind| ClassReport {
                kind,
                tally: Tally::default(),
                counts: Counts::default(),
            })
            .collect();
        let mut by_channel = vec![Tally::default(); args.channels];
        let (mut foreign, mut drain_ms, mut first_errors) = (0, 0, Vec::new());
        for r in &results {
            for (c, (t, n)) in classes.iter_mut().zip(r.by_class.iter().zip(&r.counts)) {
                c.tally.add(t);
                add_counts(&mut c.counts, n);
            }
            for (c, t) in by_channel.iter_mut().zip(&r.by_channel) {
                c.add(t);
            }
            foreign += r.foreign;
            drain_ms = drain_ms.max(r.drain_ms);
            first_errors.extend(r.first_error.clone());
        }
        first_errors.extend(publishers.iter().filter_map(|p| p.first_error.clone()));
        let mut total = Tally::default();
        for c in &classes {
            total.add(&c.tally);
        }
        let fit: Vec<(f64, f64)> = rss_samples
            .iter()
            .filter(|s| s.0 >= args.warmup)
            .map(|&(t, kb)| (t / 60.0, kb as f64))
            .collect();
        Report {
            clients: args.clients,
            mix: args.mix.clone(),
            channels: args.channels,
            rate: args.rate,
            churn_mean_s: args.churn_mean,
            duration_s: args.duration,
            warmup_s: args.warmup,
            setup_failed,
            cpu,
            classes,
            total,
            by_channel,
            publishers,
            foreign,
            drain_ms,
            first_errors,
            rss_start_kb,
            rss_slope_kb_per_min: slope(&fit),
            rss_samples,
            rss_after_soak_kb,
            cycles,
        }
    }
}

/// The report as text.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "soak: {} clients ({}), {} channels, {} msg/s in total, churn every {} s per client on average, {} s",
        r.clients, r.mix, r.channels, r.rate, r.churn_mean_s, r.duration_s
    );
    let _ = writeln!(
        s,
        "setup failures: {}; CPU while publishing: herald {:.0} % of a core, whole machine {:.0} % (of 200 %)",
        r.setup_failed, r.cpu.herald_pct, r.cpu.machine_pct
    );
    let _ = writeln!(
        s,
        "\n| transport (start) | accounts | received | lost (gaps + tail) | duplicated | reordered | silent | sessions dropped by server | drops | switches | quits | errors | failures | ack batches | acks refused |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let row = |name: &str, t: &Tally, c: Option<&Counts>| {
        let c = c.cloned().unwrap_or_default();
        format!(
            "| {name} | {} | {} | {} ({} + {}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.accounts, t.received, t.lost(), t.lost_gaps, t.lost_tail, t.duplicated,
            t.reordered, t.silent, t.dropped_by_server, c.drops, c.switches, c.quits,
            c.errors, c.failures, c.ack_batches, c.ack_refused
        )
    };
    for c in r.classes.iter().filter(|c| c.tally.accounts > 0) {
        s.push_str(&row(c.kind.as_str(), &c.tally, Some(&c.counts)));
    }
    let mut all = Counts::default();
    for c in &r.classes {
        add_counts(&mut all, &c.counts);
    }
    s.push_str(&row("**all**", &r.total, Some(&all)));
    let published: u64 = r.publishers.iter().map(|p| p.next).sum();
    let confirmed: u64 = r.publishers.iter().map(|p| p.confirmed).sum();
    let failed: usize = r.publishers.iter().map(|p| p.failed.len()).sum();
    let worst = |f: fn(&Tally) -> u64| r.by_channel.iter().map(f).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "\npublishers: {}; published {published}, confirmed {confirmed}, failed {failed}; per publisher, most lost by its subscribers {}, most duplicated {}; publishers whose subscribers lost anything: {}",
        r.publishers.len(),
        worst(Tally::lost),
        worst(|t| t.duplicated),
        r.by_channel.iter().filter(|t| t.lost() > 0).count()
    );
    let _ = writeln!(
        s,
        "foreign deliveries: {}; drain: {} ms",
        r.foreign, r.drain_ms
    );
    for e in r.first_errors.iter().take(4) {
        let _ = writeln!(s, "first error: {e}");
    }
    let last = r.rss_samples.last().map_or(0, |x| x.1);
    let _ = writeln!(
        s,
        "\nherald RSS: {} MB before the clients, {} MB at the end of publishing ({} samples); slope after {} s: {}",
        r.rss_start_kb / 1024,
        last / 1024,
        r.rss_samples.len(),
        r.warmup_s,
        r.rss_slope_kb_per_min
            .map_or("n/a".into(), |v| format!("{v:.1} KB/min"))
    );
    let _ = writeln!(
        s,
        "after every soak client left: {} KB",
        r.rss_after_soak_kb
    );
    let mut prev = r.rss_after_soak_kb;
    for (i, c) in r.cycles.iter().enumerate() {
        let _ = writeln!(
            s,
            "cycle {}: {} joined, RSS {} KB joined, {} KB after leaving ({:+} KB)",
            i + 1,
            c.joined,
            c.rss_joined_kb,
            c.rss_left_kb,
            c.rss_left_kb as i64 - prev as i64
        );
        prev = c.rss_left_kb;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 7.0)).collect();
        assert!((slope(&pts).unwrap() - 3.0).abs() < 1e-9);
        assert!(slope(&pts[..2]).is_none());
    }
}
