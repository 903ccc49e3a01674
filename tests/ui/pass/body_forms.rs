use cache_core::{cached, invalidates};

fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
    input.parse()
}

/// Doc comments and attributes are kept.
#[cached(prefix = "body", ttl = "1m", key = input)]
#[allow(clippy::needless_return)]
pub(crate) async fn question_mark(input: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if input.is_empty() {
        return Ok(0);
    }
    let value = parse(input)?;
    Ok(value + 1)
}

#[invalidates("body")]
async fn early_return(flag: bool) -> Result<u8, String> {
    if flag {
        return Err("no".into());
    }
    Ok(1)
}

#[invalidates("body")]
async fn unit_return() {}

fn main() {
    let _ = question_mark;
    let _ = early_return;
    let _ = unit_return;
}
