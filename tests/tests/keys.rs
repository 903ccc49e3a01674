//! The key format, pinned: the keys generated for a fixed table of inputs. Any change to
//! the format shows up here, in review, as a snapshot diff (and must bump the format version, `c3` now).

use cache_core::__private::KeyParts;
use cache_core::key::{call_keys, index_key};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct Filters {
    status: &'static str,
    page: u32,
    search: Option<&'static str>,
}

#[derive(Serialize)]
enum Sort {
    Newest,
    Title { ascending: bool },
}

fn row(table: &mut String, label: &str, namespace: &str, parts: &KeyParts) {
    let keys = call_keys(namespace, "fmpa", "list", 0, parts);
    // The contract a hit relies on: its three keys are in one slot.
    let slot = cache_core::slot::of(keys.entry());
    assert_eq!(cache_core::slot::of(keys.scope_generation()), slot);
    assert_eq!(cache_core::slot::of(keys.prefix_generation()), slot);
    writeln!(
        table,
        "{label}\n    entry  {}\n    scope  {}\n    prefix {}\n    slot   {slot}",
        keys.entry(),
        keys.scope_generation(),
        keys.prefix_generation()
    )
    .unwrap();
    for tag in keys.tag_generations() {
        assert_eq!(
            cache_core::slot::of(tag),
            slot,
            "a tag generation in the call's slot"
        );
        writeln!(table, "    tag    {tag}").unwrap();
    }
    // The fences and indexes of result tags: in the call's slot too (one script per fill).
    for tag in parts.result_tags() {
        for base in [keys.scope_generation(), keys.prefix_generation()] {
            for value in [None, Some("~42")] {
                let key = index_key(base, tag, value);
                assert_eq!(
                    cache_core::slot::of(&key),
                    slot,
                    "an index in the call's slot"
                );
                writeln!(table, "    index  {key}").unwrap();
            }
        }
    }
}

fn scoped<S: Serialize + ?Sized>(scope: &S) -> KeyParts {
    let mut parts = KeyParts::new();
    parts.scope(scope);
    parts
}

#[test]
fn key_format() {
    let mut table = String::new();
    let t = &mut table;
    row(t, "plain tenant", "app", &scoped("tenant-42"));
    row(t, "no namespace", "", &scoped("tenant-42"));
    row(t, "no scope", "app", &KeyParts::new());
    row(t, "empty tenant", "app", &scoped(""));
    row(t, "separator", "app", &scoped("a:b"));
    row(t, "glob characters", "app", &scoped("*?[x]\\"));
    row(t, "braces (hash tag)", "app", &scoped("{evil}"));
    row(t, "markers and percent", "app", &scoped("~#!%"));
    row(t, "spaces and control", "app", &scoped("a b\tc\n"));
    row(t, "unicode", "app", &scoped("caserne-épinal-消防-🚒"));
    row(
        t,
        "JSON-escaped string",
        "app",
        &scoped("quote\" back\\slash"),
    );
    row(t, "number scope", "app", &scoped(&42u64));
    row(t, "string that looks like a number", "app", &scoped("42"));
    row(t, "negative float", "app", &scoped(&-1.5f64));
    row(
        t,
        "bool and none",
        "app",
        scoped(&true).arg(&Option::<u8>::None),
    );
    row(t, "long tenant (hashed)", "app", &scoped(&"x".repeat(100)));
    let filters = Filters {
        status: "ACTIVE",
        page: 2,
        search: Some("feu de forêt"),
    };
    row(t, "struct argument", "app", scoped("acme").arg(&filters));
    let big = Filters {
        status: "ACTIVE",
        page: 2,
        search: Some("a very long search string that makes the component exceed the limit"),
    };
    row(
        t,
        "long struct argument (hashed)",
        "app",
        scoped("acme").arg(&big),
    );
    row(
        t,
        "enum arguments",
        "app",
        scoped("acme")
            .arg(&Sort::Newest)
            .arg(&Sort::Title { ascending: true }),
    );
    row(
        t,
        "several arguments",
        "app",
        scoped("acme").arg(&1u32).arg("b").arg(&vec![1, 2]),
    );
    row(
        t,
        "another scope, same arguments",
        "app",
        scoped("globex").arg(&1u32).arg("b").arg(&vec![1, 2]),
    );
    row(
        t,
        "tags: a value, every value (None), an escaped tag value",
        "app",
        scoped("acme")
            .arg(&7u32)
            .tag("status", &Some("OPEN"))
            .tag("item", &Option::<u64>::None)
            .tag("slug", "a:b=c"),
    );
    row(
        t,
        "a result tag: fences (no value) and the index of item 42, in the scope and its bucket",
        "app",
        scoped("acme").result_tag("item"),
    );
    insta::assert_snapshot!(table);
}

#[test]
fn prefix_name_and_version_segments() {
    let parts = scoped("acme");
    let table = [
        call_keys("app", "fmpa", "list", 0, &parts)
            .entry()
            .to_owned(),
        call_keys("app", "fmpa", "list", 3, &parts)
            .entry()
            .to_owned(),
        call_keys("app", "fmpa:weird", "na:me", 0, &parts)
            .entry()
            .to_owned(),
        call_keys("app", "formation", "list", 0, &parts)
            .entry()
            .to_owned(),
    ]
    .join("\n");
    insta::assert_snapshot!(table);
}
