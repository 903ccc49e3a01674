use cache_core::invalidates;

#[invalidates("fmpa", scope = tenant)]
async fn create(tenant: &str) -> Result<(), ()> { let _ = tenant; Ok(()) }

fn main() {}
