use cache_core::invalidates;

#[invalidates(key = tenant, target("fmpa"), target("stats"))]
async fn write(tenant: &str) {
    let _ = tenant;
}

fn main() {}
