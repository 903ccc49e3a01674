//! The audit of cache sites: each finding, from sites written wrong on purpose (each
//! group on a prefix of its own), none for sites that agree, both sites' file:line, and
//! the map. No Redis: the registry is the program's, the audit reads only it.

use cache_core::audit::{Audit, Finding, Problem, audit_with};
use cache_core::{Cache, cached, invalidates};

// Agree: a list by tenant with an item tag, its writes by scope and by tag.
#[cached(prefix = "clean", ttl = "5m", key = tenant, tag(item = |rows: &Vec<u32>| rows.clone()), cache = cache)]
async fn list(cache: &Cache, tenant: &str) -> Result<Vec<u32>, String> {
    Ok(vec![1, 2])
}

#[invalidates("clean", key = tenant, cache = cache)]
async fn create(cache: &Cache, tenant: &str) -> Result<(), String> {
    Ok(())
}

#[invalidates("clean", tag(item = id), cache = cache)]
async fn rename(cache: &Cache, id: u32) -> Result<(), String> {
    Ok(())
}

// A batch read and the single-id read whose entries it shares: one value type.
#[cached(prefix = "users", ttl = "5m", key = tenant, id, cache = cache)]
async fn user(cache: &Cache, tenant: &str, id: u32) -> Result<String, String> {
    Ok(String::new())
}

#[cached(prefix = "users", name = "user", ttl = "5m", key = tenant, batch = ids, cache = cache)]
async fn users(
    cache: &Cache,
    tenant: &str,
    ids: &[u32],
) -> Result<std::collections::HashMap<u32, String>, String> {
    Ok(ids.iter().map(|&id| (id, String::new())).collect())
}

#[invalidates("users", key = tenant, cache = cache)]
async fn touch_users(cache: &Cache, tenant: &str) -> Result<(), String> {
    Ok(())
}

// A TTL-only read: accepted.
#[cached(prefix = "countries", ttl = "1d", ttl_only = true, cache = cache)]
async fn countries(cache: &Cache) -> Result<Vec<String>, String> {
    Ok(vec![])
}

// Never invalidated.
#[cached(prefix = "lonely", ttl = "5m", key = tenant, cache = cache)]
async fn lonely(cache: &Cache, tenant: &str) -> Result<u32, String> {
    Ok(1)
}

// A tag nothing invalidates (the scope is).
#[cached(prefix = "tagged", ttl = "5m", key = tenant, tag(status = status), cache = cache)]
async fn by_status(cache: &Cache, tenant: &str, status: &str) -> Result<u32, String> {
    Ok(1)
}

#[invalidates("tagged", key = tenant, cache = cache)]
async fn touch_tagged(cache: &Cache, tenant: &str) -> Result<(), String> {
    Ok(())
}

// A prefix nobody reads, and a tag of `clean` nobody declares: typos.
#[invalidates("claen", key = tenant, cache = cache)]
async fn typo_prefix(cache: &Cache, tenant: &str) -> Result<(), String> {
    Ok(())
}

#[invalidates("clean", tag(itme = id), cache = cache)]
async fn typo_tag(cache: &Cache, id: u32) -> Result<(), String> {
    Ok(())
}

// The scope from `&str` on one side, `u64` on the other.
#[cached(prefix = "orders", ttl = "5m", key = tenant, cache = cache)]
async fn orders(cache: &Cache, tenant: &str) -> Result<u32, String> {
    Ok(1)
}

#[invalidates("orders", key = tenant_id, cache = cache)]
async fn add_order(cache: &Cache, tenant_id: u64) -> Result<(), String> {
    Ok(())
}

// A write-through into a read of another prefix than it invalidates.
#[cached(prefix = "profile", ttl = "5m", key = user, write_through = true, cache = cache)]
async fn profile(cache: &Cache, user: &str) -> Result<String, String> {
    Ok(String::new())
}

#[invalidates("profile", key = user, cache = cache)]
async fn reset_profile(cache: &Cache, user: &str) -> Result<(), String> {
    Ok(())
}

#[invalidates("account", write_through = profile(cache, user), cache = cache)]
async fn save_profile(cache: &Cache, user: &str) -> Result<String, String> {
    Ok(String::new())
}

#[cached(prefix = "account", ttl = "5m", key = user, cache = cache)]
async fn account(cache: &Cache, user: &str) -> Result<String, String> {
    Ok(String::new())
}

// A sensitive read whose prefix the cache does not declare.
#[cached(prefix = "session", ttl = "1h", key = token, sensitive = true, cache = cache)]
async fn session(cache: &Cache, token: &str) -> Result<String, String> {
    Ok(String::new())
}

#[invalidates("session", key = token, cache = cache)]
async fn logout(cache: &Cache, token: &str) -> Result<(), String> {
    Ok(())
}

// Two reads sharing entries with different value types.
#[cached(prefix = "shared", name = "item", ttl = "5m", key = tenant, cache = cache)]
async fn item_count(cache: &Cache, tenant: &str) -> Result<u32, String> {
    Ok(1)
}

#[cached(prefix = "shared", name = "item", ttl = "5m", key = tenant, cache = cache)]
async fn item_name(cache: &Cache, tenant: &str) -> Result<String, String> {
    Ok(String::new())
}

#[invalidates("shared", key = tenant, cache = cache)]
async fn touch_shared(cache: &Cache, tenant: &str) -> Result<(), String> {
    Ok(())
}

fn audit() -> Audit {
    audit_with(Some(&[]))
}

/// The findings on `prefix`.
fn on(audit: &Audit, prefix: &str) -> Vec<Finding> {
    audit
        .findings()
        .iter()
        .filter(|f| f.prefix == prefix)
        .cloned()
        .collect()
}

fn problems(findings: &[Finding]) -> Vec<Problem> {
    findings.iter().map(|f| f.problem).collect()
}

#[test]
fn sites_that_agree_have_no_finding() {
    let audit = audit();
    assert!(on(&audit, "countries").is_empty(), "{audit}");
    assert!(on(&audit, "users").is_empty(), "{audit}");
    let clean: Vec<Problem> = problems(&on(&audit, "clean"));
    // Only the typo of a tag (a write of `clean` that no read declares).
    assert_eq!(clean, vec![Problem::TagNoReader], "{audit}");
}

#[test]
fn a_read_nothing_invalidates() {
    let audit = audit();
    let found = on(&audit, "lonely");
    assert_eq!(problems(&found), vec![Problem::NeverInvalidated], "{audit}");
    assert_eq!(found[0].site.function, "lonely");
    assert!(
        found[0]
            .site
            .location()
            .starts_with("cache-core/tests/audit.rs:")
    );
    assert!(found[0].message.contains("ttl_only = true"), "{}", found[0]);
}

#[test]
fn a_tag_nothing_invalidates() {
    let audit = audit();
    assert_eq!(
        problems(&on(&audit, "tagged")),
        vec![Problem::TagNeverInvalidated],
        "{audit}"
    );
}

#[test]
fn typos_of_a_prefix_and_of_a_tag() {
    let audit = audit();
    let prefix = on(&audit, "claen");
    assert_eq!(problems(&prefix), vec![Problem::NoReader], "{audit}");
    assert_eq!(prefix[0].site.function, "typo_prefix");
    let tag = on(&audit, "clean");
    assert_eq!(tag[0].site.function, "typo_tag");
    assert!(tag[0].message.contains("itme"), "{}", tag[0]);
}

#[test]
fn a_scope_of_another_type() {
    let audit = audit();
    let found = on(&audit, "orders");
    assert_eq!(problems(&found), vec![Problem::ScopeTypes], "{audit}");
    assert_eq!(found[0].site.function, "add_order");
    assert_eq!(found[0].other.map(|s| s.function), Some("orders"));
    assert!(found[0].message.contains("u64"), "{}", found[0]);
    // Both sites' file:line in what is shown.
    let shown = found[0].to_string();
    assert_eq!(
        shown.matches("cache-core/tests/audit.rs:").count(),
        2,
        "{shown}"
    );
}

#[test]
fn a_write_through_into_another_prefix() {
    let audit = audit();
    let found = on(&audit, "profile");
    assert_eq!(problems(&found), vec![Problem::WriteThrough], "{audit}");
    assert_eq!(found[0].site.function, "save_profile");
    assert_eq!(found[0].other.map(|s| s.function), Some("profile"));
}

#[test]
fn a_sensitive_read_the_cache_does_not_declare() {
    let audit = audit();
    assert_eq!(
        problems(&on(&audit, "session")),
        vec![Problem::UndeclaredSensitive],
        "{audit}"
    );
    // Declared: nothing to say.
    let declared = audit_with(Some(&["session".to_owned()]));
    assert!(on(&declared, "session").is_empty(), "{declared}");
}

#[test]
fn two_reads_sharing_entries_with_other_types() {
    let audit = audit();
    let found = on(&audit, "shared");
    assert_eq!(problems(&found), vec![Problem::ValueTypes], "{audit}");
    assert!(found[0].message.contains("u32"), "{}", found[0]);
    assert!(found[0].message.contains("String"), "{}", found[0]);
}

#[test]
fn the_map_shows_who_invalidates_what() {
    let audit = audit();
    let text = audit.map_text();
    assert!(
        text.contains("  read list (list key = tenant tags item, ttl 5m)"),
        "{text}"
    );
    assert!(text.contains("    <- create (key = tenant)"), "{text}");
    assert!(text.contains("    <- rename (tag item)"), "{text}");
    let mermaid = audit.map_mermaid();
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("  w_rename -->|\"tag item\"| r_list\n"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("  w_create -->|\"key = tenant\"| r_list\n"),
        "{mermaid}"
    );
    // A write that reaches nothing has no arrow.
    assert!(!mermaid.contains("w_typo_prefix -->"), "{mermaid}");
}
