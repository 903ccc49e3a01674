use cache_core::invalidates;

const FMPA: u32 = 1;

#[invalidates(FMPA, key = tenant)]
async fn create(tenant: &str) -> Result<(), ()> { let _ = tenant; Ok(()) }

fn main() {}
