//! The expansion of each attribute form, pretty-printed and snapshotted: a change to the
//! generated code shows up in review.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

macro_rules! snapshot {
    ($name:ident, $expand:path, ($($attr:tt)*), $($item:tt)*) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(pretty($expand(quote!($($attr)*), quote!($($item)*))));
        }
    };
}

snapshot!(
    cached_free_function,
    super::cached::expand,
    (prefix = "fmpa", ttl = "5m", key = tenant, filters),
    /// Lists a tenant's FMPA sessions.
    pub async fn list_fmpa(
        db: &PgPool,
        tenant: &str,
        filters: &FmpaFilters,
    ) -> Result<FmpaPage, sqlx::Error> {
        query(db, tenant, filters).await
    }
);

snapshot!(
    cached_method_explicit_cache,
    super::cached::expand,
    (
        prefix = prefix::FMPA,
        ttl = ttl::LIST_SHORT,
        name = "item",
        key = self.tenant,
        id,
        cache = self.cache,
        version = 2
    ),
    async fn get(&self, id: u64) -> Option<Fmpa> {
        self.find(id).await
    }
);

snapshot!(
    cached_option_negative,
    super::cached::expand,
    (
        prefix = "user",
        ttl = "30m",
        key = user_id,
        cache_none = true
    ),
    async fn profile(user_id: u64) -> Option<Profile> {
        None
    }
);

snapshot!(
    cached_plain_value_unscoped,
    super::cached::expand,
    (prefix = "static", ttl = "24h"),
    async fn countries() -> Vec<String> {
        vec![]
    }
);

snapshot!(
    cached_error_keeps_the_function,
    super::cached::expand,
    (prefix = "fmpa", ttl = "5 minutes"),
    async fn list() -> Result<u32, Error> {
        Ok(1)
    }
);

snapshot!(
    invalidates_one_scope,
    super::invalidates::expand,
    ("fmpa", key = tenant),
    pub async fn create_fmpa(db: &PgPool, tenant: &str, new: NewFmpa) -> Result<Fmpa, sqlx::Error> {
        insert(db, tenant, new).await
    }
);

snapshot!(
    invalidates_several_prefixes_field_key,
    super::invalidates::expand,
    (
        prefix::FMPA,
        "stats",
        key = input.tenant,
        cache = self.cache
    ),
    async fn update(&mut self, input: UpdateFmpa) -> Result<(), Error> {
        self.apply(input).await
    }
);

snapshot!(
    invalidates_whole_prefix_plain_value,
    super::invalidates::expand,
    ("fmpa"),
    async fn purge() {
        truncate().await;
    }
);

snapshot!(
    invalidates_keys_from_the_result_when_changed,
    super::invalidates::expand,
    (
        "article",
        key = viewer,
        tag(article = old_slug, article = |a: &Article| a.slug.clone()),
        when = |a: &Article| a.changed
    ),
    async fn rename(viewer: &str, old_slug: &str) -> Result<Article, Error> {
        apply(viewer, old_slug).await
    }
);
