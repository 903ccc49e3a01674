//! `cache invalidate PREFIX [SCOPE] [--tag NAME=VALUE] [--all]`: through the library.

use crate::{Failure, Outcome};
use cache_core::Cache;
use std::io::Write;

/// What to invalidate.
#[derive(Debug, PartialEq, Eq)]
pub enum What {
    /// One scope.
    Scope(String),
    /// A tag value, in a scope or in every scope.
    Tag {
        scope: Option<String>,
        name: String,
        value: String,
    },
    /// The whole prefix.
    All,
}

impl What {
    /// From the command's arguments.
    pub fn of(scope: Option<&str>, tag: Option<&str>, all: bool) -> Result<What, Failure> {
        match (scope, tag, all) {
            (_, _, true) => Ok(What::All),
            (scope, Some(tag), false) => {
                let (name, value) = crate::args::tag(tag).map_err(Failure)?;
                Ok(What::Tag {
                    scope: scope.map(str::to_owned),
                    name,
                    value,
                })
            }
            (Some(scope), None, false) => Ok(What::Scope(scope.to_owned())),
            (None, None, false) => Err(Failure(String::from(
                "name a SCOPE, a --tag NAME=VALUE, or --all for the whole prefix",
            ))),
        }
    }
}

pub async fn run(
    cache: &Cache,
    json: bool,
    prefix: &str,
    what: What,
    yes: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Failure> {
    let done = match &what {
        What::Scope(scope) => {
            cache.try_invalidate(prefix, scope.as_str()).await?;
            format!("invalidated scope {scope:?} of {prefix:?}")
        }
        What::Tag { scope, name, value } => {
            // A tag name is an identifier of the program; a command line names it once.
            let name: &'static str = Box::leak(name.clone().into_boxed_str());
            let scope = scope.as_deref();
            // The value as text, and as the JSON it may be (`42`: the number too).
            cache
                .try_invalidate_tag(prefix, scope, name, value.as_str())
                .await?;
            if let Ok(typed) = serde_json::from_str::<serde_json::Value>(value)
                && !typed.is_string()
            {
                cache
                    .try_invalidate_tag(prefix, scope, name, &typed)
                    .await?;
            }
            let place =
                scope.map_or_else(|| String::from("every scope"), |s| format!("scope {s:?}"));
            format!("invalidated tag {name}={value} of {prefix:?} in {place}")
        }
        What::All => {
            if !yes && !confirm(prefix, out).await? {
                return Err(Failure(String::from("not confirmed: nothing invalidated")));
            }
            cache.try_invalidate_all(prefix).await?;
            format!("invalidated every entry of {prefix:?}")
        }
    };
    match json {
        true => writeln!(out, "{}", serde_json::json!({"invalidated": done}))?,
        false => writeln!(out, "{done}")?,
    }
    Ok(Outcome::Done)
}

/// Asks the operator to type the prefix.
async fn confirm(prefix: &str, out: &mut dyn Write) -> Result<bool, Failure> {
    use tokio::io::AsyncBufReadExt;
    write!(
        out,
        "invalidate EVERY entry of {prefix:?}, in every scope? type the prefix to confirm: "
    )?;
    out.flush()?;
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    Ok(line.trim() == prefix)
}

#[cfg(test)]
mod tests {
    use super::What;

    #[test]
    fn arguments_name_one_thing() {
        assert_eq!(
            What::of(Some("t1"), None, false).unwrap(),
            What::Scope("t1".into())
        );
        assert_eq!(What::of(None, None, true).unwrap(), What::All);
        assert!(What::of(None, None, false).is_err());
        assert!(What::of(None, Some("item"), false).is_err());
        assert_eq!(
            What::of(None, Some("item=2"), false).unwrap(),
            What::Tag {
                scope: None,
                name: "item".into(),
                value: "2".into()
            }
        );
    }
}
