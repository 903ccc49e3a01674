//! §19: what operating it costs, against a hit measured in the same run: the statistics
//! each process publishes once per fleet period (a snapshot, its JSON, one script), and
//! the consistency checker on the hit path (off: one load; sampled: the function's body
//! runs as on a miss).

use crate::Plan;
use crate::measure::{Call, call, ratio, sequential, us};
use cache_core::__private::{self, KeyParts, ResultMode, Site};
use cache_core::Cache;
use std::time::Duration;

/// Twenty sites, as many as the seed's app has.
static SITES: [Site; 20] = {
    const fn site(name: &'static str) -> Site {
        Site::new("ops", name, Duration::from_secs(600), 0)
    }
    [
        site("s00"),
        site("s01"),
        site("s02"),
        site("s03"),
        site("s04"),
        site("s05"),
        site("s06"),
        site("s07"),
        site("s08"),
        site("s09"),
        site("s10"),
        site("s11"),
        site("s12"),
        site("s13"),
        site("s14"),
        site("s15"),
        site("s16"),
        site("s17"),
        site("s18"),
        site("s19"),
    ]
};

/// A read of `site` on `cache` whose body answers at once.
async fn read(cache: &Cache, site: &'static Site) {
    let mut parts = KeyParts::new();
    parts.scope("acme");
    let _ = __private::cached(
        ResultMode::<Result<u32, String>>::new(),
        site,
        Some(cache.clone()),
        parts,
        __private::ReadOptions::new(),
        async { Ok(7) },
    )
    .await;
}

async fn cache(namespace: &str, rate: f64) -> Cache {
    Cache::builder()
        .redis_url(crate::workload::redis_url())
        .namespace(namespace)
        .check_consistency(rate)
        .build()
        .await
        .expect("cache")
}

pub(crate) async fn operations(plan: &Plan) {
    println!("## 19. Operating it: published statistics and the consistency checker\n");
    let off = cache("bench-ops", 0.0).await;
    let sampled = cache("bench-ops", 0.01).await;
    for site in &SITES {
        read(&off, site).await; // a miss: every site has counters and an entry
        read(&sampled, site).await;
    }
    let hit = {
        let off = off.clone();
        call(move || {
            let off = off.clone();
            async move { read(&off, &SITES[0]).await }
        })
    };
    let checked = {
        let sampled = sampled.clone();
        call(move || {
            let sampled = sampled.clone();
            async move { read(&sampled, &SITES[0]).await }
        })
    };
    let publish = {
        let off = off.clone();
        call(move || {
            let off = off.clone();
            async move { __private::raw::publish_stats(&off).await }
        })
    };
    let variants: Vec<Call> = vec![hit, checked, publish];
    let s = sequential(&variants, plan.rounds).await;
    println!("| what | p50 (µs) | p99 (µs) | p50 / a hit |\n|---|---|---|---|");
    for (name, summary) in [
        ("a hit, checker off (the baseline)", s[0]),
        ("a hit, checker at 0.01 (its body answers at once)", s[1]),
        ("one publication of the statistics (20 sites)", s[2]),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            us(summary.median),
            us(summary.p99),
            ratio(summary.median, s[0].median)
        );
    }
    let share = s[2].median.as_secs_f64() / 5.0;
    println!(
        "\nA publication every 5 s (the default period) is {:.5}% of one core's time, the cost of {:.1} hits per 5 s.\n",
        share * 100.0,
        s[2].median.as_secs_f64() / s[0].median.as_secs_f64()
    );
    off.delete_pattern("*").await;
}
