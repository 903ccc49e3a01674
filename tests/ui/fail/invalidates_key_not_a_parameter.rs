use cache_core::invalidates;

pub struct NewFmpa { pub tenant: String }

#[invalidates("fmpa", key = new.tenant)]
async fn create(input: NewFmpa) -> Result<(), ()> { let _ = input; Ok(()) }

fn main() {}
