use cache_core::invalidates;

#[invalidates("fmpa", key = tenant)]
fn create(tenant: &str) -> Result<(), ()> { let _ = tenant; Ok(()) }

fn main() {}
