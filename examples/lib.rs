//! Runnable programs that use `cache_core`; see the `[[example]]` targets of this package.
