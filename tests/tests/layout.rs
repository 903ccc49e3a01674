//! The house rules of `cache-core/src` (ARCHITECTURE.md): no file over 450 lines, and no
//! two modules that import each other (a folder's `mod.rs` and its own children aside:
//! the folder is one piece). Read from the sources, so a change that breaks a rule fails
//! here with the files named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 450;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cache-core/src")
}

/// Every `.rs` file under `dir`, with its module path (`crate`, `l1`, `l1::view`, ...).
fn modules(dir: &Path, root: &Path, out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("cache-core/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            modules(&path, root, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under src");
            let mut name = relative
                .with_extension("")
                .to_string_lossy()
                .replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_owned();
            }
            if name == "lib" {
                name = String::from("crate");
            }
            if name == "private" {
                name = String::from("__private");
            }
            out.insert(name, path);
        }
    }
}

/// The modules `source` names through `crate::` paths (outside comments), resolved to the
/// longest module that exists.
fn imports(source: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let path: String = rest[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
                .collect();
            rest = &rest[at + 7..];
            // `crate::{a, b::c}`: each name in the braces.
            let paths: Vec<String> = match path.split_once('{') {
                Some((head, _)) => {
                    let inside = rest.split_once('{').map_or("", |(_, tail)| tail);
                    let inside = inside.split('}').next().unwrap_or("");
                    inside
                        .split(',')
                        .map(|name| format!("{head}{}", name.trim()))
                        .collect()
                }
                None => vec![path],
            };
            for path in paths {
                let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                for len in (1..=segments.len()).rev() {
                    let candidate = segments[..len].join("::");
                    if known.contains_key(&candidate) {
                        found.insert(candidate);
                        break;
                    }
                }
            }
        }
    }
    found
}

/// Whether `a` is `b`'s folder or inside it, or the other way round.
fn same_folder(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

#[test]
fn no_file_of_cache_core_is_over_450_lines() {
    let mut known = BTreeMap::new();
    modules(&src(), &src(), &mut known);
    let long: Vec<String> = known
        .values()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these (at most {MAX_LINES} lines each): {long:?}"
    );
}

#[test]
fn no_two_modules_of_cache_core_import_each_other() {
    let mut known = BTreeMap::new();
    modules(&src(), &src(), &mut known);
    assert!(known.len() > 40, "found only {} modules", known.len());
    let edges: BTreeMap<&str, BTreeSet<String>> = known
        .iter()
        .map(|(name, path)| {
            let source = std::fs::read_to_string(path).expect("a readable source");
            let mut found = imports(&source, &known);
            found.remove(name.as_str());
            (name.as_str(), found)
        })
        .collect();
    assert!(
        edges["inner"].contains("sensitive"),
        "the import scan finds the imports it should"
    );
    let mut cycles = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if *a < b.as_str()
                && !same_folder(a, b)
                && edges.get(b.as_str()).is_some_and(|back| back.contains(*a))
            {
                cycles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other: {cycles:?}"
    );
}
