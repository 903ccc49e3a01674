use cache_core::invalidates;

#[invalidates(target("fmpa", key = tenant, when = |_: &()| true))]
async fn write(tenant: &str) {
    let _ = tenant;
}

fn main() {}
