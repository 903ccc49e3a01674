use cache_core::invalidates;

#[derive(serde::Serialize)]
pub struct Created {
    pub id: u64,
}

/// The top-level prefix with its key, then groups with their own keys and tags, one
/// taken from the result.
#[invalidates(
    "fmpa",
    key = tenant,
    target("stats", key = tenant),
    target("catalogue", tag(item = |row: &Created| row.id)),
    target("search")
)]
async fn create(tenant: &str) -> Result<Created, String> {
    let _ = tenant;
    Ok(Created { id: 1 })
}

/// Only groups.
#[invalidates(target("fmpa", key = tenant), target("stats"), when = |changed: &bool| *changed)]
async fn touch(tenant: &str) -> bool {
    let _ = tenant;
    true
}



/// Stacked: folded into one invalidation, with the same `when`.
#[invalidates("fmpa", key = tenant, when = |changed: &bool| *changed)]
#[cache_core::invalidates("stats", when = |changed: &bool| *changed)]
async fn stacked(tenant: &str) -> bool {
    let _ = tenant;
    true
}
fn main() {}
