use cache_core::invalidates;

#[invalidates("fmpa", when = |changed: &bool| *changed)]
async fn write() -> impl Sized {
    true
}

fn main() {}
