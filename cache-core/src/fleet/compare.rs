//! Which differences between two manifests break a promise.

use super::{Disagreement, Manifest};
use std::collections::BTreeSet;

/// The disagreements of `ours` (which used the prefixes `used`) with `theirs` that break a
/// promise.
pub(super) fn compare(
    ours: &Manifest,
    used: &BTreeSet<String>,
    theirs: &Manifest,
) -> Vec<Disagreement> {
    let short = theirs
        .id
        .get(theirs.id.len().saturating_sub(6)..)
        .unwrap_or(&theirs.id);
    let peer = || format!("{} (cache …{short})", theirs.process);
    let mut found = Vec::new();
    if ours.key_format != theirs.key_format {
        found.push(Disagreement::KeyFormat {
            peer: peer(),
            ours: ours.key_format.clone(),
            theirs: theirs.key_format.clone(),
        });
        // Nothing else meets across formats.
        return found;
    }
    let (here, there): (BTreeSet<&str>, BTreeSet<&str>) = (
        ours.sensitive.iter().map(String::as_str).collect(),
        theirs.sensitive.iter().map(String::as_str).collect(),
    );
    // Sensitive on one side, used plainly on the other.
    for prefix in here.symmetric_difference(&there) {
        let sensitive_here = here.contains(prefix);
        let plain_use = match sensitive_here {
            true => theirs.used.iter().any(|p| p == prefix),
            false => used.contains(*prefix),
        };
        if plain_use {
            found.push(Disagreement::Sensitivity {
                peer: peer(),
                prefix: (*prefix).to_owned(),
                sensitive_here,
            });
        }
    }
    if let (Some(mine), Some(other)) = (&ours.naming, &theirs.naming)
        && mine != other
    {
        let prefixes: Vec<String> = here.intersection(&there).map(|p| (*p).to_owned()).collect();
        if !prefixes.is_empty() {
            let side = |m: &Manifest, naming: &str| format!("{naming} (keys {:?})", m.keys);
            found.push(Disagreement::Naming {
                peer: peer(),
                ours: side(ours, mine),
                theirs: side(theirs, other),
                prefixes,
            });
        }
    }
    found
}
#[cfg(test)]
mod tests {
    use super::compare;
    use crate::fleet::{Disagreement, Fleet, Manifest};
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn used() -> BTreeSet<String> {
        BTreeSet::from([String::from("session")])
    }

    fn manifest(format: &str, sensitive: &[&str], naming: Option<&str>) -> Manifest {
        Manifest {
            id: format!("{format}{sensitive:?}{naming:?}"),
            process: String::from("pid 2 on b"),
            key_format: format.to_owned(),
            sensitive: sensitive.iter().map(|p| (*p).to_owned()).collect(),
            naming: naming.map(str::to_owned),
            ..Manifest::default()
        }
    }

    #[test]
    fn only_what_splits_names_is_a_disagreement() {
        let ours = manifest("c4", &["session"], Some("aaaa"));
        let none = BTreeSet::new();
        assert!(compare(&ours, &used(), &manifest("c4", &["session"], Some("aaaa"))).is_empty());
        // No keys there: that side does not cache the prefix and invalidates it whole.
        assert!(compare(&ours, &used(), &manifest("c4", &["session"], None)).is_empty());
        assert!(matches!(
            compare(&ours, &used(), &manifest("c5", &["session"], Some("aaaa")))[..],
            [Disagreement::KeyFormat { .. }]
        ));
        // Plain there: a disagreement once that side used the prefix.
        let mut plain = manifest("c4", &[], Some("aaaa"));
        assert!(
            compare(&ours, &used(), &plain).is_empty(),
            "never used there"
        );
        plain.used = vec![String::from("session")];
        assert!(matches!(
            &compare(&ours, &used(), &plain)[..],
            [Disagreement::Sensitivity { prefix, sensitive_here: true, .. }] if prefix == "session"
        ));
        // Plain here: once this side used it.
        let theirs = manifest("c4", &["session"], Some("aaaa"));
        let plain_here = manifest("c4", &[], None);
        assert!(compare(&plain_here, &none, &theirs).is_empty());
        assert!(matches!(
            &compare(&plain_here, &used(), &theirs)[..],
            [Disagreement::Sensitivity {
                sensitive_here: false,
                ..
            }]
        ));
        assert!(matches!(
            &compare(&ours, &used(), &manifest("c4", &["session"], Some("bbbb")))[..],
            [Disagreement::Naming { prefixes, .. }] if prefixes == &["session"]
        ));
        // Other naming keys, but no prefix sensitive on both sides: only the sensitivity
        // of each, where the other side uses it.
        let mut theirs = manifest("c4", &["b"], Some("bbbb"));
        theirs.used = vec![String::from("a")];
        let found = compare(
            &manifest("c4", &["a"], Some("aaaa")),
            &BTreeSet::from([String::from("b")]),
            &theirs,
        );
        assert_eq!(found.len(), 2);
        assert!(
            found
                .iter()
                .all(|d| matches!(d, Disagreement::Sensitivity { .. }))
        );
    }

    #[test]
    fn the_joining_cache_refuses_and_a_running_one_does_not_start_to() {
        let disagreeing =
            serde_json::to_string(&manifest("c4", &["session"], Some("bbbb"))).unwrap();
        let ours = manifest("c4", &["session"], Some("aaaa"));
        let joining = Fleet::new("ns", ours.clone(), Duration::from_millis(20));
        assert!(joining.refuses("session", || true), "unchecked: refused");
        assert!(!joining.refuses("fmpa", || false));
        joining.note_use("session");
        joining.apply("ns", std::slice::from_ref(&disagreeing));
        assert!(joining.refuses("session", || true));
        assert_eq!(joining.stats().disagreements, 1);
        // The peer is not seen once (its manifest lost with a restarted Redis): still
        // refused, until it has been missing for a manifest's lifetime.
        assert!(joining.apply("ns", &[]).0.is_empty());
        assert!(joining.refuses("session", || true));
        std::thread::sleep(Duration::from_millis(70)); // a real delay: a manifest's life
        let released = joining.apply("ns", &[]);
        assert_eq!(
            released.0,
            ["session"],
            "released, to be invalidated whole once"
        );
        assert!(!joining.refuses("session", || true));

        let running = Fleet::new("ns", ours.clone(), Duration::from_secs(5));
        running.apply("ns", &[]);
        running.apply("ns", std::slice::from_ref(&disagreeing));
        assert!(!running.refuses("session", || true), "the newcomer refuses");
        assert_eq!(running.stats().disagreements, 1);
        // Told once per peer.
        running.apply("ns", std::slice::from_ref(&disagreeing));
        assert_eq!(running.stats().disagreements, 1);

        // A peer that refuses the prefix itself: nothing for a joining cache to refuse.
        let mut refusing = manifest("c4", &["session"], Some("bbbb"));
        refusing.refused = vec![String::from("session")];
        let joining = Fleet::new("ns", ours, Duration::from_secs(5));
        joining.apply("ns", &[serde_json::to_string(&refusing).unwrap()]);
        assert!(!joining.refuses("session", || true));
    }

    #[test]
    fn a_cache_refuses_what_a_peer_declares_sensitive_and_it_does_not() {
        let sensitive = serde_json::to_string(&manifest("c4", &["session"], Some("aaaa"))).unwrap();
        let plain = Fleet::new("ns", manifest("c4", &[], None), Duration::from_millis(20));
        plain.apply("ns", &[]);
        plain.apply("ns", std::slice::from_ref(&sensitive));
        assert!(plain.refuses("session", || false), "even when running");
        assert_eq!(
            plain.stats().disagreements,
            0,
            "not used here: nothing to tell"
        );
        assert!(plain.encoded().contains(r#""refused":["session"]"#));
        plain.apply("ns", &[]);
        assert!(
            plain.refuses("session", || false),
            "a peer missing once: kept"
        );
        std::thread::sleep(Duration::from_millis(70)); // a real delay: a manifest's life
        // Never used here: its refusal ends without an invalidation.
        assert!(plain.apply("ns", &[]).0.is_empty());
        assert!(!plain.refuses("session", || false));
    }
}
