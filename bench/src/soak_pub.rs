//! A soak publisher: one Bayeux client (acknowledged delivery asked, as every client of the
//! soak) per channel, publishing sequence numbers 0, 1, 2, … at a steady rate over
//! long-polling while the window is open. It never retries a publish (a retry that had in
//! fact gone through would be a duplicate the server did not make): a publish that fails
//! or is not answered is counted as the publisher's loss, and its number is listed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::time::sleep_until;

use crate::bayeux::{self, AckState, ReplyKind};
use crate::soak_wire::{self as wire, Conn, Kind};
use crate::soak_worker::Ctx;

const LIMIT: Duration = Duration::from_secs(30);

/// One publisher's account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Published {
    pub channel: usize,
    /// Numbers used: 0 to `next - 1`.
    pub next: u64,
    /// Publishes answered `successful: true`.
    pub confirmed: u64,
    /// Numbers whose publish failed or went unanswered.
    pub failed: Vec<u64>,
    pub first_error: Option<String>,
}

/// The publisher's session: handshake and first connect.
async fn session(
    ctx: &Ctx,
    conn: &mut Conn,
    cookie: &mut Option<String>,
) -> Result<(String, AckState)> {
    let reply = conn
        .exchange(
            &ctx.target,
            Kind::LongPolling,
            wire::handshake(1),
            cookie,
            LIMIT,
        )
        .await?;
    let p = bayeux::parse(&reply)?;
    let hs = p
        .reply(ReplyKind::Handshake)
        .context("no handshake reply")?;
    let cid = hs.client_id.clone().context("no clientId")?;
    let mut ack = AckState::default();
    ack.handshake(hs);
    let body = wire::connect(&cid, Kind::LongPolling, 2, true, ack.outgoing());
    conn.exchange(&ctx.target, Kind::LongPolling, body, cookie, LIMIT)
        .await?;
    Ok((cid, ack))
}

/// Holds connects so that the session lives while it publishes, until the clients leave.
async fn keep_alive(
    ctx: Arc<Ctx>,
    mut conn: Conn,
    cid: String,
    mut ack: AckState,
    mut cookie: Option<String>,
) {
    let mut mode = ctx.mode.clone();
    for id in 3u64.. {
        let body = wire::connect(&cid, Kind::LongPolling, id, false, ack.outgoing());
        let res = tokio::select! {
            _ = crate::soak_worker::leaving(&mut mode) => break,
            r = conn.exchange(&ctx.target, Kind::LongPolling, body, &mut cookie, Duration::from_secs(45)) => r,
        };
        match res.and_then(|b| bayeux::parse(&b)) {
            Ok(p) => {
                if let Some(r) = p.reply(ReplyKind::Connect) {
                    ack.connect(r);
                }
            }
            Err(e) => {
                ctx.error(Kind::LongPolling, "publisher connect", &e);
                tokio::time::sleep(Duration::from_millis(500)).await;
                match Conn::open(&ctx.target, ctx.src).await {
                    Ok(c) => conn = c,
                    Err(_) => continue,
                }
            }
        }
    }
    if let Ok(mut c) = Conn::open(&ctx.target, ctx.src).await {
        let _ = c
            .exchange(
                &ctx.target,
                Kind::LongPolling,
                wire::disconnect(&cid, 0),
                &mut cookie,
                LIMIT,
            )
            .await;
    }
}

/// Publishes on `channel` through the window; returns its account.
pub async fn publisher(ctx: Arc<Ctx>, channel: usize) -> Published {
    let mut out = Published {
        channel,
        ..Published::default()
    };
    let Some((start, end)) = ctx.window() else {
        return out;
    };
    let mut cookie = None;
    let setup = async {
        let mut conn = Conn::open(&ctx.target, ctx.src).await?;
        let (cid, ack) = session(&ctx, &mut conn, &mut cookie).await?;
        anyhow::Ok((conn, cid, ack))
    };
    let (held, cid, ack) = match setup.await {
        Ok(x) => x,
        Err(e) => {
            out.first_error = Some(format!("setup: {e:#}"));
            return out;
        }
    };
    tokio::spawn(keep_alive(
        ctx.clone(),
        held,
        cid.clone(),
        ack,
        cookie.clone(),
    ));
    let name = ctx.channel_name(channel);
    let pad = "x".repeat(ctx.plan.payload);
    let period = Duration::from_secs_f64(1.0 / ctx.plan.rate.max(1e-3));
    // Publishers start spread over one period, so that they do not all fire at once.
    let offset = period.mul_f64((channel as f64 * 0.618_034).fract());
    let mut conn: Option<Conn> = None;
    loop {
        let at = start + offset + period.mul_f64(out.next as f64);
        if at >= end {
            break;
        }
        sleep_until(at.into()).await;
        let seq = out.next;
        out.next += 1;
        let data = bayeux::stamp(crate::worker::now_us(), channel as u64, seq, 1, &pad);
        let body = bayeux::publish(&cid, &name, seq + 10, &data);
        let res = async {
            let c = match &mut conn {
                Some(c) if !c.is_closed() => c,
                _ => conn.insert(Conn::open(&ctx.target, ctx.src).await?),
            };
            let reply = c
                .exchange(&ctx.target, Kind::LongPolling, body, &mut cookie, LIMIT)
                .await?;
            let p = bayeux::parse(&reply)?;
            match p.reply(ReplyKind::Publish) {
                Some(r) if r.successful => Ok(()),
                r => anyhow::bail!("publish: {:?}", r.and_then(|r| r.error.clone())),
            }
        };
        match res.await {
            Ok(()) => out.confirmed += 1,
            Err(e) => {
                conn = None;
                out.failed.push(seq);
                out.first_error.get_or_insert(format!("{e:#}"));
            }
        }
    }
    out
}
