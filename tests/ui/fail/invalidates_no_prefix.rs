use cache_core::invalidates;

#[invalidates(key = tenant)]
async fn create(tenant: &str) -> Result<(), ()> { let _ = tenant; Ok(()) }

fn main() {}
