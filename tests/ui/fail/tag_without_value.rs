use cache_core::invalidates;

#[invalidates("fmpa", key = tenant, tag(item))]
async fn update(tenant: &str, item: u32) -> Result<(), String> {
    let _ = (tenant, item);
    Ok(())
}

fn main() {}
