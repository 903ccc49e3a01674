//! Measuring: variants interleaved round by round so that machine noise hits all of them,
//! medians and p99s, throughput of concurrent tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One call of a variant.
pub type Call = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Wraps an async closure as a [`Call`].
pub fn call<F, Fut>(f: F) -> Call
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// Median and p99 of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: Duration,
    pub p99: Duration,
}

pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Summary {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// Latency of one call at a time: each round calls every variant once, in an order that
/// rotates, so that no variant always runs first or after another.
pub async fn sequential(variants: &[Call], rounds: usize) -> Vec<Summary> {
    let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let started = Instant::now();
            variants[i]().await;
            samples[i].push(started.elapsed());
        }
    }
    samples.iter_mut().map(|s| summarize(s)).collect()
}

/// Calls per second with `tasks` concurrent tasks: blocks of `window` per variant,
/// alternating variants block by block.
pub async fn throughput(
    variants: &[Call],
    tasks: usize,
    window: Duration,
    blocks: usize,
) -> Vec<f64> {
    let mut ops = vec![0u64; variants.len()];
    let mut time = vec![Duration::ZERO; variants.len()];
    for block in 0..blocks {
        for k in 0..variants.len() {
            let i = (block + k) % variants.len();
            let stop = Arc::new(AtomicBool::new(false));
            let started = Instant::now();
            // Each task counts its own calls (a shared counter would be a contended
            // cache line, a cost of the harness that the fastest variant pays most).
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (variant, stop) = (variants[i].clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut count = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            variant().await;
                            count += 1;
                        }
                        count
                    })
                })
                .collect();
            tokio::time::sleep(window).await; // the measurement window itself
            stop.store(true, Ordering::Relaxed);
            for handle in handles {
                ops[i] += handle.await.unwrap_or(0);
            }
            time[i] += started.elapsed();
        }
    }
    ops.iter()
        .zip(&time)
        .map(|(ops, time)| *ops as f64 / time.as_secs_f64())
        .collect()
}

/// Microseconds with two decimals.
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// `a / b` as a ratio with two decimals.
pub fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
}
