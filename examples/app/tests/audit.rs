//! The app's cache sites agree: every read is invalidated by the writes that change it
//! (or declared TTL-only), no write targets a prefix or a tag nobody reads, scopes are
//! built from one type on both sides, the sensitive reads are declared. No database or
//! Redis: the audit reads the sites the attributes registered. Run with `--nocapture` to
//! see the map (the README's is this test's output).

use fmpa_app::config;

#[tokio::test]
async fn the_apps_cache_sites_agree() {
    // The app's own cache (memory here: only its declared prefixes matter).
    let cache = config::cache_defaults()
        .memory()
        .build()
        .await
        .expect("cache");
    let audit = cache.audit();
    let app: Vec<_> = audit
        .sites()
        .iter()
        .filter(|site| site.file.contains("src/repo.rs"))
        .collect();
    assert!(
        app.len() >= 20,
        "the repository's sites are registered: {audit}"
    );
    assert!(audit.findings().is_empty(), "{audit}");
    println!("{}", audit.map_mermaid());
}
