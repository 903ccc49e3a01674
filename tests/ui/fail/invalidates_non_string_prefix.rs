use cache_core::invalidates;

#[invalidates(42, key = tenant)]
async fn create(tenant: &str) -> Result<(), ()> { let _ = tenant; Ok(()) }

fn main() {}
