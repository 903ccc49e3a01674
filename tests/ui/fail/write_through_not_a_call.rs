use cache_core::invalidates;

#[invalidates("items", key = tenant, write_through = get)]
async fn rename(tenant: &str) -> Result<(), String> {
    let _ = tenant;
    Ok(())
}

fn main() {}
