//! `#[cached]` and `#[invalidates]`, the attributes of `cache_core`.
//!
//! Use them through `cache_core` (`use cache_core::{cached, invalidates};`): the
//! generated code calls `::cache_core::__private`, and this crate is pinned to the exact
//! version of `cache_core` that re-exports it. This crate only parses, checks and emits;
//! every behaviour lives in `cache_core`.

#![deny(missing_docs)]

use proc_macro::TokenStream;

mod args;
mod check;
mod expand;
mod ttl;

/// Caches an async function's result in the cache-aside way.
///
/// ```text
/// #[cached(prefix = "fmpa", ttl = "5m", key = tenant, filters)]
/// async fn list_fmpa(db: &PgPool, tenant: &str, filters: &FmpaFilters)
///     -> Result<FmpaPage, sqlx::Error> { ... }
/// ```
///
/// Options:
/// - `prefix = "fmpa"` or `prefix = path::TO_CONST` (required): what `#[invalidates]`
///   targets.
/// - `ttl = "5m"` (units `ms`, `s`, `m`, `h`, `d`, checked at compile time) or
///   `ttl = ttl::LIST_SHORT`, a `Duration` constant of your own (required).
/// - `key = tenant` (or `key = user.tenant_id`): the scope that per-tenant invalidation
///   targets. Bare parameter names (`filters`) are further key arguments, in order;
///   parameters not named are not part of the key.
/// - `name = "list"`: the key's function segment (default: the function's name).
/// - `cache = expr`: a `Cache`, `&Cache` or `Arc<Cache>` to use instead of the installed
///   one.
/// - `cache_none = true`: also cache `None` of an `Option`.
/// - `result = true`: treat the return type (an alias) as a `Result`.
/// - `version = 2`: bump when the cached type changes shape.
///
/// `Ok` of a `Result` is stored, `Err` never; `Some` of an `Option` (and `None` with
/// `cache_none`); any other type as it is. The function's own output is returned
/// untouched; a failing cache never fails the function.
#[proc_macro_attribute]
pub fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached::expand(attr.into(), item.into()).into()
}

/// Invalidates cached entries after an async function succeeds.
///
/// ```text
/// #[invalidates("fmpa", key = tenant)]          // this tenant's fmpa entries
/// #[invalidates("fmpa", "stats", key = tenant)] // several prefixes
/// #[invalidates("fmpa")]                        // every tenant's fmpa entries
/// #[invalidates(prefix::FMPA, key = input.tenant)]
/// ```
///
/// Runs the function; if it returns `Ok` (or any non-`Result` value), invalidates; on
/// `Err`, invalidates nothing. Takes `cache = expr` and `result = true` like
/// `#[cached]`. A failing invalidation never changes the function's result: the runtime
/// keeps it and retries.
#[proc_macro_attribute]
pub fn invalidates(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::invalidates::expand(attr.into(), item.into()).into()
}
