//! The `#[cached]` sites of the process, by what their keys share: two functions with
//! the same prefix, name and version (in different modules) read and fill each other's
//! entries. When their value types differ, that is a mistake worth a warning.

use std::collections::HashMap;
use std::sync::Mutex;

/// What two sites' keys share.
type Shared = (&'static str, &'static str, u32);

static SEEN: Mutex<Option<HashMap<Shared, &'static str>>> = Mutex::new(None);

/// Records that a site keyed by (`prefix`, `name`, `version`) stores `value_type`;
/// returns the other type already recorded under the same keys, if it differs.
pub fn register(
    prefix: &'static str,
    name: &'static str,
    version: u32,
    value_type: &'static str,
) -> Option<&'static str> {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let first = *seen
        .get_or_insert_with(HashMap::new)
        .entry((prefix, name, version))
        .or_insert(value_type);
    (first != value_type).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::register;

    #[test]
    fn sites_sharing_keys_with_other_types_are_reported() {
        assert_eq!(register("sites-test", "list", 0, "u32"), None);
        assert_eq!(register("sites-test", "list", 0, "u32"), None);
        assert_eq!(register("sites-test", "list", 0, "String"), Some("u32"));
        assert_eq!(register("sites-test", "list", 1, "String"), None);
        assert_eq!(register("sites-test", "item", 0, "String"), None);
    }
}
