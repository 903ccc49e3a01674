//! Key injectivity over adversarial values: no two distinct argument tuples share a key.

use cache_core::__private::KeyParts;
use cache_core::key::call_keys;
use proptest::prelude::*;

/// Strings made of separators, glob characters, braces, escapes, markers, unicode, and
/// long runs (which get hashed).
fn adversarial() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "", ":", "*", "?", "[", "]", "{", "}", "\\", "%", "%3A", "~", "#", "!", " ", "\n", "\"",
        "a", "b", "é", "租户", "🦀", "c1", "~null", "#00", "0", "-1", ",", "=", "(", ")", "<", ">",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat()),
        "[a-c:%~#]{30,100}",
        ".{0,100}",
    ]
}

fn entry_key(scope: &Option<String>, args: &[String]) -> String {
    let mut parts = KeyParts::new();
    if let Some(scope) = scope {
        parts.scope(scope);
    }
    for arg in args {
        parts.arg(arg);
    }
    call_keys("ns", "fmpa", "list", 0, &parts)
        .entry()
        .to_owned()
}

/// JSON values of every shape, strings adversarial: what a struct, a map, a sequence or
/// an option argument serializes to.
fn structured() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        adversarial().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(adversarial(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn structured_values_give_distinct_components(a in structured(), b in structured()) {
        let (ca, cb) = (
            cache_core::key::component(&a).unwrap(),
            cache_core::key::component(&b).unwrap(),
        );
        let same = serde_json::to_string(&a).unwrap() == serde_json::to_string(&b).unwrap();
        prop_assert_eq!(same, ca == cb, "{} -> {} / {} -> {}", a, ca, b, cb);
    }

    #[test]
    fn distinct_inputs_give_distinct_keys(
        a in (prop::option::of(adversarial()), prop::collection::vec(adversarial(), 0..3)),
        b in (prop::option::of(adversarial()), prop::collection::vec(adversarial(), 0..3)),
    ) {
        let (ka, kb) = (entry_key(&a.0, &a.1), entry_key(&b.0, &b.1));
        prop_assert_eq!(a == b, ka == kb, "{:?} -> {} / {:?} -> {}", a, ka, b, kb);
    }

    #[test]
    fn keys_are_bounded_and_share_one_hash_tag_per_scope(scope in adversarial(), arg in adversarial()) {
        let mut parts = KeyParts::new();
        parts.scope(&scope).arg(&arg);
        let keys = call_keys("ns", "fmpa", "list", 0, &parts);
        prop_assert!(keys.entry().len() <= 300, "{}", keys.entry());
        let tag = |key: &str| {
            let open = key.find('{').unwrap();
            let close = open + key[open..].find('}').unwrap();
            key[open..=close].to_owned()
        };
        prop_assert_eq!(tag(keys.entry()), tag(keys.scope_generation()));
        // No glob character escapes into a key outside the markers we write.
        prop_assert!(!keys.entry().contains('*') && !keys.entry().contains('?'));
    }

    #[test]
    fn one_scope_never_addresses_another(a in adversarial(), b in adversarial()) {
        prop_assume!(a != b);
        let key = |s: &str| {
            let mut parts = KeyParts::new();
            parts.scope(s);
            call_keys("ns", "fmpa", "list", 0, &parts).scope_generation().to_owned()
        };
        prop_assert_ne!(key(&a), key(&b));
    }
}
