//! cache-core built without its `encryption` feature, as an application with
//! `default-features = false` gets it: `sensitive = true` is a compile error there
//! (`tests/ui.rs`), never a site that silently caches nothing.
