//! Resident memory with the token cache full of Cognito-sized tokens, and while a flood of
//! distinct valid tokens churns it.

use std::sync::Arc;
use std::time::Duration;

use crate::grpc::{self, Feed, Shape};
use crate::report::{Measured, Memory};
use crate::{Fixture, Opts, world};

/// The SPEC's default `cache.tokens`.
const CAP: u64 = 100_000;
const BATCH: usize = 100_000;

pub async fn part(fx: &Fixture, opts: &Opts, m: &mut Measured) {
    let target = world::start_tokengate(&fx.dir, &fx.jwks.url, CAP).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut mem = Memory {
        cap: CAP,
        idle_mib: target.proc.rss_mib(),
        ..Memory::default()
    };
    let shape = Shape {
        conns: 8,
        streams: 16,
        duration: Duration::from_secs(3600),
        rate: None,
    };
    let entries = async || target.metric("tokengate_token_cache_entries", "").await;
    // ES256 tokens: as large as Cognito's once cached (the signature is not kept), and 30×
    // cheaper to mint than RS256, which makes a million of them practical.
    let (first, flood) = if opts.quick {
        (20_000, opts.flood)
    } else {
        (BATCH, opts.flood)
    };
    let mut sent = 0;
    let mut next_id = 100_000_000;
    let mut batch = |n: usize| {
        let tokens = world::mint(&fx.es, &fx.jwks.url, next_id, n);
        next_id += n as u64;
        Arc::new(world::framed(&tokens))
    };
    let frames = batch(first);
    let out = grpc::run(target.grpc, Feed::Once(frames), shape).await;
    mem.bad += out.failed + out.denied;
    sent += out.requests as usize;
    mem.entries_100k = entries().await;
    mem.cached_100k_mib = target.proc.rss_mib();
    eprintln!(
        "memory: {:.1} MiB idle, {:.1} MiB with {} entries after {sent} tokens",
        mem.idle_mib, mem.cached_100k_mib, mem.entries_100k
    );
    mem.flood
        .push((sent, mem.cached_100k_mib, mem.entries_100k));
    while sent < first + flood {
        let n = BATCH.min(first + flood - sent);
        let frames = batch(n);
        let out = grpc::run(target.grpc, Feed::Once(frames), shape).await;
        mem.bad += out.failed + out.denied;
        sent += out.requests as usize;
        let sample = (sent, target.proc.rss_mib(), entries().await);
        eprintln!(
            "memory: {} tokens sent, {:.1} MiB, {} entries",
            sample.0, sample.1, sample.2
        );
        mem.flood.push(sample);
    }
    m.memory = Some(mem);
}
