use cache_core::invalidates;

// Stacked #[invalidates] are one invalidation: a `when` on one only is ambiguous.
#[invalidates("fmpa", key = tenant, when = |changed: &bool| *changed)]
#[invalidates("stats", key = tenant)]
async fn write(tenant: &str) -> bool {
    let _ = tenant;
    true
}

fn main() {}
