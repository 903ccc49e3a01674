use cache_core::invalidates;

#[invalidates(target("fmpa", key = tenant), target(key = tenant))]
async fn write(tenant: &str) {
    let _ = tenant;
}

fn main() {}
