use cache_core::{cached, invalidates};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub id: u64,
    pub author: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Page {
    pub rows: Vec<Row>,
}

/// A page depends on the rows it holds (borrowed from the value) and on their authors;
/// its filter is an ordinary tag.
#[cached(
    prefix = "rows",
    ttl = "5m",
    key = viewer,
    status,
    tag(status = status, row = |page: &Page| page.rows.iter().map(|r| r.id), author = |page: &Page| page.rows.iter().map(|r| r.author.clone()))
)]
async fn page(viewer: &str, status: Option<&str>) -> Result<Page, String> {
    let _ = (viewer, status);
    Ok(Page { rows: vec![] })
}

/// One value, as an `Option`.
#[cached(prefix = "rows", name = "first", ttl = "5m", key = viewer, tag(row = |row: &Option<Row>| row.as_ref().map(|r| r.id)), cache_none = true)]
async fn first(viewer: &str) -> Option<Row> {
    let _ = viewer;
    None
}

/// The writer names the value as usual.
#[invalidates("rows", key = viewer, tag(row = id))]
async fn edit(viewer: &str, id: u64) -> Result<(), String> {
    let _ = (viewer, id);
    Ok(())
}

fn main() {}
