use cache_core::invalidates;

#[invalidates("fmpa", key = tenant, tag())]
async fn update(tenant: &str) -> Result<(), String> {
    let _ = tenant;
    Ok(())
}

fn main() {}
