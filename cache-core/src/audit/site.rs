//! The registry: every `#[cached]` and `#[invalidates]` site of the program, recorded at
//! link time (through `inventory`) as it was written.

/// Whether a site reads or invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `#[cached]` function.
    Read,
    /// One target of an `#[invalidates]` function (a function with `target(...)` groups
    /// or stacked attributes records one per target).
    Invalidate,
}

/// A key argument as written: its expression, and its type when the expression is a
/// parameter (empty otherwise: `user.tenant_id`'s type is not in the signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// The expression, as written (`tenant`, `user.tenant_id`).
    pub expr: &'static str,
    /// The parameter's type as written (`&str`, `u64`), or empty.
    pub ty: &'static str,
}

/// One cache site, as the attribute recorded it. Built by the attributes only.
#[derive(Debug)]
pub struct Site {
    /// Read or invalidate.
    pub kind: Kind,
    /// The function's name.
    pub function: &'static str,
    /// Where it is written.
    pub file: &'static str,
    /// Its line.
    pub line: u32,
    /// The prefix it reads, or the prefixes it invalidates.
    pub prefixes: &'static [&'static str],
    /// A read's name in its keys (its function's name unless `name = ...`); empty for an
    /// invalidation.
    pub name: &'static str,
    /// A read's `version`.
    pub version: u32,
    /// The scope (`key = ...`); `None`: every scope (an invalidation of the whole prefix)
    /// or none (a read without one).
    pub scope: Option<Arg>,
    /// The other key arguments of a read.
    pub args: &'static [Arg],
    /// The tags a read declares (from its arguments or its result), or the tags an
    /// invalidation targets.
    pub tags: &'static [&'static str],
    /// What a read stores (its `Ok` type, or its return type), as written; empty for an
    /// invalidation.
    pub value_type: &'static str,
    /// A read's TTL as written.
    pub ttl: &'static str,
    /// `ttl_only = true`: a read that nothing is meant to invalidate (its TTL is its only
    /// freshness), so the audit accepts that nothing does.
    pub ttl_only: bool,
    /// A read with `l1`.
    pub l1: bool,
    /// A read with `sensitive = true`.
    pub sensitive: bool,
    /// A read with `write_through = true`: `["self"]`; an invalidation with
    /// `write_through = read(...)`: the read's function name.
    pub write_through: &'static [&'static str],
}

inventory::collect!(Site);

/// Every site of the program, in a stable order (file, line, function).
pub fn all() -> Vec<&'static Site> {
    let mut sites: Vec<&'static Site> = inventory::iter::<Site>.into_iter().collect();
    sites.sort_by_key(|site| (site.file, site.line, site.function, site.prefixes));
    sites
}

impl Site {
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Whether it reads or invalidates `prefix`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.prefixes.contains(&prefix)
    }
}

/// A type as compared across sites: no spaces, no references or lifetimes, and the
/// string types (`&str`, `String`, `Cow<str>`, `Box<str>`, `Arc<str>`) as one, since they
/// name a scope alike. Empty when unknown.
pub(crate) fn normalized(ty: &str) -> String {
    // Lifetimes out, then spaces.
    let mut bare = String::with_capacity(ty.len());
    let mut chars = ty.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // `'a`, and its comma when it is a generic argument (`Cow<'a, str>`).
            while chars
                .next_if(|c| c.is_alphanumeric() || *c == '_')
                .is_some()
            {}
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            chars.next_if_eq(&',');
        } else if !c.is_whitespace() {
            bare.push(c);
        }
    }
    // Then the references in front.
    let mut ty = bare.as_str();
    while let Some(rest) = ty.strip_prefix('&') {
        ty = rest.strip_prefix("mut").unwrap_or(rest);
    }
    match ty {
        "str"
        | "String"
        | "std::string::String"
        | "Cow<str>"
        | "Box<str>"
        | "Arc<str>"
        | "Rc<str>" => "str".to_owned(),
        _ => ty.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn string_types_name_a_scope_alike() {
        for ty in [
            "&str",
            "& 'a str",
            "&'static str",
            "String",
            "&String",
            "&mut String",
            "Cow<str>",
            "Cow < 'a , str >",
        ] {
            assert_eq!(normalized(ty), "str", "{ty}");
        }
        assert_eq!(normalized("u64"), "u64");
        assert_eq!(normalized("& TenantId"), "TenantId");
        assert_eq!(normalized("Option < & 'a str >"), "Option<&str>");
        assert_eq!(normalized(""), "");
    }
}
