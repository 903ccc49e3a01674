use cache_core::invalidates;

#[derive(serde::Serialize)]
pub struct Created {
    pub id: u64,
    pub tenant: String,
}

/// The scope and a tag from the created row.
#[invalidates("fmpa", key = |row: &Created| row.tenant.clone(), tag(item = |row: &Created| row.id))]
async fn create(title: String) -> Result<Created, String> {
    let _ = title;
    Ok(Created { id: 1, tenant: "acme".into() })
}

/// Only when something changed; a plain (non-`Result`) output is handed as it is.
#[invalidates("follows", key = user, when = |created: &bool| *created)]
async fn follow(user: &str) -> bool {
    let _ = user;
    true
}

fn main() {}
