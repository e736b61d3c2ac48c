//! The parent's side of a storm run: its worker processes (JSON lines over their stdin and
//! stdout) and a trace of the server's CPU and RSS read from /proc.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::worker::{Command, Event, Plan};
use crate::coordinator::{reap, spawn_self};
use crate::procfs;

/// The running workers, in plan order.
pub struct Procs {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    events: mpsc::UnboundedReceiver<Result<Event>>,
}

impl Procs {
    /// Starts one `storm-worker` per plan and hands each its plan.
    pub async fn spawn(plans: &[Plan]) -> Result<Procs> {
        let (tx, events) = mpsc::unbounded_channel();
        let (mut children, mut stdins) = (Vec::new(), Vec::new());
        for plan in plans {
            let (child, stdin, stdout) = spawn_self("storm-worker", plan).await?;
            let mut out = BufReader::new(stdout).lines();
            let (tx, w) = (tx.clone(), plan.worker);
            tokio::spawn(async move {
                while let Ok(Some(line)) = out.next_line().await {
                    let ev =
                        serde_json::from_str(&line).with_context(|| format!("worker {w}: {line}"));
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Err(anyhow!("storm worker {w} exited")));
            });
            children.push(child);
            stdins.push(stdin);
        }
        Ok(Procs {
            children,
            stdins,
            events,
        })
    }

    pub async fn send_all(&mut self, cmd: &Command) -> Result<()> {
        let line = format!("{}\n", serde_json::to_string(cmd)?);
        for s in &mut self.stdins {
            s.write_all(line.as_bytes()).await?;
            s.flush().await?;
        }
        Ok(())
    }

    /// The next event from any worker.
    pub async fn next(&mut self) -> Result<Event> {
        self.events.recv().await.context("workers gone")?
    }

    /// One answer from every worker (progress reports aside), within `limit`.
    pub async fn gather(&mut self, limit: Duration) -> Result<Vec<Event>> {
        let want = self.stdins.len();
        let work = async {
            let mut got = Vec::with_capacity(want);
            while got.len() < want {
                match self.next().await? {
                    Event::Progress { .. } => {}
                    ev => got.push(ev),
                }
            }
            anyhow::Ok(got)
        };
        tokio::time::timeout(limit, work)
            .await
            .context("workers did not answer in time")?
    }

    /// CPU seconds the workers have used so far.
    pub fn cpu_secs(&self) -> f64 {
        self.children
            .iter()
            .filter_map(|c| c.id().and_then(procfs::cpu_secs))
            .sum()
    }

    pub async fn stop(mut self) {
        let _ = self.send_all(&Command::Stop).await;
        reap(&mut self.children).await;
    }
}

/// Connection attempts the kernel dropped because a listening socket's accept queue was
/// full (`ListenDrops` in /proc/net/netstat), machine-wide: a client whose SYN is dropped
/// tries again after 1 s, then 3 s, 7 s…, which shows in the tail of the times back.
pub fn listen_drops() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names.split_whitespace().position(|n| n == "ListenDrops")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Readings of the server's CPU time and RSS (every 250 ms, by the caller).
#[derive(Default)]
pub struct CpuTrace {
    samples: Vec<(Instant, f64)>,
    pub rss_peak_kb: u64,
}

impl CpuTrace {
    pub fn sample(&mut self, pid: u32) {
        if let Some(cpu) = procfs::cpu_secs(pid) {
            self.samples.push((Instant::now(), cpu));
        }
        if let Some(kb) = procfs::rss_kb(pid) {
            self.rss_peak_kb = self.rss_peak_kb.max(kb);
        }
    }

    /// The highest CPU use over any second of the trace, and the mean over all of it, in %
    /// of one core. A second, not one 250-ms step: CPU time is counted in 10-ms ticks.
    pub fn peak_and_mean(&self) -> (f64, f64) {
        let pct = |a: &(Instant, f64), b: &(Instant, f64)| {
            (b.1 - a.1) * 100.0 / b.0.duration_since(a.0).as_secs_f64().max(1e-3)
        };
        let mut peak: f64 = 0.0;
        let mut j = 0;
        for i in 0..self.samples.len() {
            while j + 1 < i
                && self.samples[i].0.duration_since(self.samples[j + 1].0) >= Duration::from_secs(1)
            {
                j += 1;
            }
            if i > j
                && self.samples[i].0.duration_since(self.samples[j].0) >= Duration::from_millis(900)
            {
                peak = peak.max(pct(&self.samples[j], &self.samples[i]));
            }
        }
        let mean = match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => pct(a, b),
            _ => 0.0,
        };
        (peak.max(mean), mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_over_a_second() {
        let t = Instant::now();
        let at = |ms: u64, cpu: f64| (t + Duration::from_millis(ms), cpu);
        // 0.1 s of CPU per 250 ms for a second (40 %), then idle for a second.
        let trace = CpuTrace {
            samples: vec![
                at(0, 0.0),
                at(250, 0.1),
                at(500, 0.2),
                at(750, 0.3),
                at(1000, 0.4),
                at(1500, 0.4),
                at(2000, 0.4),
            ],
            rss_peak_kb: 0,
        };
        let (peak, mean) = trace.peak_and_mean();
        assert!((peak - 40.0).abs() < 1e-6, "{peak}");
        assert!((mean - 20.0).abs() < 1e-6, "{mean}");
        assert_eq!(CpuTrace::default().peak_and_mean(), (0.0, 0.0));
        assert!(listen_drops().is_some());
    }
}
