//! Checks of the attribute against the function it is on: every check of both
//! attributes is here; the expand files only emit.

mod batch;

pub use self::batch::{Batch, Given, batch};
use crate::args::{CachedArgs, InvalidatesArgs, KeyExpr, KeyValue, Prefix, TagArg, Ttl};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, ItemFn, LitBool, Pat, PathArguments, ReturnType, Signature, Type,
};

/// A `#[cached]` attribute that passed every check: what the expansion needs.
pub struct Cached<'a> {
    pub prefix: &'a Prefix,
    pub ttl: &'a Ttl,
    /// The function's return type.
    pub ret: &'a Type,
    pub returns: Returns,
    pub cache_none: bool,
}

/// Checks `#[cached(args)]` on a function with signature `sig`.
pub fn cached<'a>(args: &'a CachedArgs, sig: &'a Signature) -> syn::Result<Cached<'a>> {
    let prefix = args.prefix.as_ref().ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `prefix`: the namespace that #[invalidates] targets, e.g. #[cached(prefix = \"fmpa\", ttl = \"5m\")]",
        )
    })?;
    let ttl = args.ttl.as_ref().ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `ttl`: how long entries live, e.g. ttl = \"5m\" or ttl = ttl::LIST_SHORT (a constant of your own)",
        )
    })?;
    is_async(sig, "cached")?;
    for key in args.scope.iter().chain(&args.keys) {
        key_reads_a_parameter(key, sig)?;
    }
    tags(&args.tags, sig, true)?;
    let (ret, returns) = returns(sig, args.result.as_ref())?;
    // A value is never kept in process longer than its entry lives (a constant is checked
    // at run time: one warning, and the tier time is the TTL).
    if let (Ttl::Millis(ttl, _), Some((_, Ttl::Millis(l1, span)))) = (ttl, &args.l1)
        && l1 > ttl
    {
        return Err(syn::Error::new(
            *span,
            format!(
                "`l1` ({}) is longer than `ttl` ({}): a value is never kept in the in-process tier longer than its entry lives; make `l1` at most the TTL",
                crate::ttl::show(*l1),
                crate::ttl::show(*ttl)
            ),
        ));
    }
    // A refresh stores as a fill does, without the fences an index of the result needs.
    if let Some(refresh) = &args.refresh
        && args
            .tags
            .iter()
            .any(|tag| matches!(tag.value, KeyValue::Result(_)))
    {
        return Err(syn::Error::new(
            refresh.span(),
            "`refresh` is not supported with a tag read from the result (`tag(item = |value| ...)`) yet: use tags from the arguments, or no early refresh",
        ));
    }
    // A value written through is stored as the write returns it: no decision of the read's.
    if let (Some(decision), Some(through)) = (
        args.unless.as_ref().or(args.ttl_from.as_ref()),
        args.write_through.as_ref().filter(|lit| lit.value),
    ) {
        let _ = through;
        return Err(syn::Error::new_spanned(
            decision,
            "`unless` and `ttl_from` are not supported with `write_through = true` yet: a write stores its value under the site's TTL, and would ignore them",
        ));
    }
    // A fail-safe value answers a failed reload: only a `Result` shows one.
    if let Some((name, _)) = &args.fail_safe
        && !matches!(returns, Returns::Result(_))
    {
        return Err(syn::Error::new(
            name.span(),
            "`fail_safe` needs a function returning `Result`: an old value answers a reload that failed, and an `Option`'s `None` or a plain value cannot say it failed (for an alias of `Result`, add `result = true`)",
        ));
    }
    if let Some((name, _)) = &args.timeout {
        soft_timeout(name, &returns, sig)?;
    }
    if let Some(lit) = &args.cache_none
        && !matches!(returns, Returns::Option(_))
    {
        return Err(syn::Error::new(
            lit.span(),
            "`cache_none` applies to functions returning `Option<T>`",
        ));
    }
    Ok(Cached {
        prefix,
        ttl,
        ret,
        returns,
        cache_none: args.cache_none.as_ref().is_some_and(|lit| lit.value),
    })
}

/// `timeout = ...`: the caller of a slow reload is answered with its fail-safe value (a
/// `Result` site's), and the reload finishes in a task of its own, which owns the
/// arguments: none may borrow.
fn soft_timeout(name: &syn::Ident, returns: &Returns, sig: &Signature) -> syn::Result<()> {
    if !matches!(returns, Returns::Result(_)) {
        return Err(syn::Error::new(
            name.span(),
            "`timeout` needs a function returning `Result`: the caller of a slow reload is answered with the fail-safe value, which only a `Result` site has (for an alias of `Result`, add `result = true`)",
        ));
    }
    for input in &sig.inputs {
        match input {
            // `&self`, `&mut self`, `self: &Self`.
            FnArg::Receiver(receiver)
                if receiver.reference.is_some()
                    || borrows(quote::ToTokens::to_token_stream(&receiver.ty)) =>
            {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "`timeout` runs the read in a task that outlives the call (a slow reload goes on and stores after the caller is answered), so its arguments must be owned: `&self` is borrowed; take `self` by value (a cheap clone, e.g. of an `Arc`) or remove `timeout`",
                ));
            }
            FnArg::Typed(typed) if borrows(quote::ToTokens::to_token_stream(&typed.ty)) => {
                let ty = &typed.ty;
                return Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "`timeout` runs the read in a task that outlives the call (a slow reload goes on and stores after the caller is answered), so its arguments must be owned: `{}` borrows; take an owned type (`String`, `Arc<PgPool>`) or remove `timeout`",
                        quote::quote!(#ty).to_string().replace("& ", "&")
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a type's tokens borrow: a `&` or a lifetime, other than `&'static` and
/// `'static`.
fn borrows(tokens: proc_macro2::TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let lifetime_at = |at: usize| match tokens.get(at) {
        Some(TokenTree::Punct(punct)) if punct.as_char() == '\'' => {
            Some(matches!(tokens.get(at + 1), Some(TokenTree::Ident(ident)) if ident == "static"))
        }
        _ => None,
    };
    for (at, token) in tokens.iter().enumerate() {
        match token {
            // `&'static`: the lifetime that follows says; a bare `&` borrows.
            TokenTree::Punct(punct) if punct.as_char() == '&' && lifetime_at(at + 1).is_none() => {
                return true;
            }
            TokenTree::Punct(_) if lifetime_at(at) == Some(false) => return true,
            TokenTree::Group(group) if borrows(group.stream()) => return true,
            _ => {}
        }
    }
    false
}

/// A `#[invalidates]` attribute that passed every check, with those stacked below it
/// folded in: what the expansion needs.
pub struct Invalidates {
    /// Its options and targets, the stacked attributes' targets included.
    pub args: InvalidatesArgs,
    /// The function, without the stacked attributes.
    pub func: ItemFn,
    pub output: Output,
    /// `result = ...`: whether the output is a `Result`; `None` lets its type decide.
    pub forced: Option<bool>,
}

/// What a write returns, as the expansion names it.
pub enum Output {
    /// A type it can write.
    Named(Box<Type>),
    /// Nothing: `()`.
    Unit,
    /// `impl Trait`, which it cannot.
    Opaque,
}

/// Checks `#[invalidates(args)]` (and those stacked below it) on `func`.
pub fn invalidates(args: InvalidatesArgs, func: &ItemFn) -> syn::Result<Invalidates> {
    let (args, func) = absorb_stacked(args, func)?;
    check_invalidates(&args, &func.sig)?;
    let output = match &func.sig.output {
        ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => Output::Opaque,
        ReturnType::Type(_, ty) => Output::Named(ty.clone()),
        ReturnType::Default => Output::Unit,
    };
    let forced = returns_result(args.result.as_ref());
    Ok(Invalidates {
        args,
        func,
        output,
        forced,
    })
}

fn check_invalidates(args: &InvalidatesArgs, sig: &Signature) -> syn::Result<()> {
    for target in &args.targets {
        if target.prefixes.is_empty() {
            return Err(syn::Error::new(
                target.span,
                "missing prefix: name what to invalidate, e.g. #[invalidates(\"fmpa\", key = tenant)] or target(\"fmpa\", key = tenant)",
            ));
        }
    }
    is_async(sig, "invalidates")?;
    let mut from_result = false;
    for target in &args.targets {
        if let Some(KeyValue::Arg(key)) = &target.scope {
            key_reads_a_parameter(key, sig)?;
        }
        from_result |= matches!(target.scope, Some(KeyValue::Result(_)))
            || target
                .tags
                .iter()
                .any(|tag| matches!(tag.value, KeyValue::Result(_)));
        // An invalidation may name several values of one tag (an item's old and new status).
        tags(&target.tags, sig, false)?;
    }
    let needs_output = from_result
        .then(|| ("a value from the result", sig.ident.span()))
        .or(args.when.as_ref().map(|when| ("`when`", when.span())))
        .or(args
            .write_through
            .as_ref()
            .map(|call| ("`write_through`", call.span())));
    if let Some((what, span)) = needs_output
        && !names_its_output(sig)
    {
        return Err(syn::Error::new(
            span,
            format!("{what} needs a return type that can be named, not `impl Trait`"),
        ));
    }
    Ok(())
}

/// Whether the output's type can be written in the generated code.
fn names_its_output(sig: &Signature) -> bool {
    !matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)))
}

/// Each tag value reads a parameter, or is a closure of the result (for an entry: the
/// values it depends on, indexed after the load); an entry's tags (`unique`) are named
/// once each.
fn tags(tags: &[TagArg], sig: &Signature, unique: bool) -> syn::Result<()> {
    for (i, tag) in tags.iter().enumerate() {
        if unique && tags[..i].iter().any(|earlier| earlier.name == tag.name) {
            return Err(syn::Error::new(
                tag.name.span(),
                format!(
                    "duplicate tag `{}`: an entry has one value per tag (an invalidation may name several)",
                    tag.name
                ),
            ));
        }
        if let KeyValue::Arg(value) = &tag.value {
            key_reads_a_parameter(value, sig)?;
        }
    }
    Ok(())
}

/// What the function returns, which decides what is stored.
pub enum Returns {
    /// `Result<T, E>` (or `result = true`): `Ok(T)` is stored. Holds `T` when visible.
    Result(Option<Type>),
    /// `Option<T>`: `Some(T)` is stored. Holds `T`.
    Option(Type),
    /// Any other type, maybe an alias of `Result` or `Option`: the generated code's
    /// probe of the concrete type decides.
    Value,
}

/// `fn` must be `async`.
fn is_async(sig: &Signature, attribute: &str) -> syn::Result<()> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "#[{attribute}] applies to `async fn`: make `{}` async",
                sig.ident
            ),
        ));
    }
    Ok(())
}

/// A key expression must read a plain parameter of the function (or `self`).
fn key_reads_a_parameter(key: &KeyExpr, sig: &Signature) -> syn::Result<()> {
    let Some(root) = &key.root else {
        return Ok(()); // a call or a macro: the compiler checks the names it uses
    };
    if root == "self" {
        return match sig.inputs.first() {
            Some(FnArg::Receiver(_)) => Ok(()),
            _ => Err(syn::Error::new(
                root.span(),
                format!(
                    "`self` is not a parameter of `{}`: it is not a method",
                    sig.ident
                ),
            )),
        };
    }
    let mut names = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            bound_names(&typed.pat, &mut names);
        }
    }
    if names.contains(&root) {
        return Ok(());
    }
    let mut params: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    if matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        params.insert(0, "`self`".to_owned());
    }
    let hint = if params.is_empty() {
        "it has none".to_owned()
    } else {
        format!("its parameters are {}", params.join(", "))
    };
    Err(syn::Error::new(
        root.span(),
        format!("`{root}` is not a parameter of `{}`; {hint}", sig.ident),
    ))
}

/// The names a parameter's pattern binds, in order.
fn bound_names<'a>(pattern: &'a Pat, out: &mut Vec<&'a syn::Ident>) {
    match pattern {
        Pat::Ident(ident) => out.push(&ident.ident),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| bound_names(&f.pat, out)),
        Pat::Reference(r) => bound_names(&r.pat, out),
        Pat::Slice(s) => s.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::Type(t) => bound_names(&t.pat, out),
        Pat::Paren(p) => bound_names(&p.pat, out),
        _ => {}
    }
}

/// The return type, and what `#[cached]` will store of it (with `result = ...`).
fn returns<'a>(sig: &'a Signature, result: Option<&LitBool>) -> syn::Result<(&'a Type, Returns)> {
    let ty = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                format!(
                    "#[cached] needs a value to cache: `{}` returns `()`",
                    sig.ident
                ),
            ));
        }
        ReturnType::Type(_, ty) => &**ty,
    };
    match ty {
        Type::ImplTrait(_) => {
            return Err(syn::Error::new_spanned(
                ty,
                "#[cached] cannot store an `impl Trait`: return a concrete serde type",
            ));
        }
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            return Err(syn::Error::new_spanned(
                ty,
                "#[cached] needs a value to cache, not `()`",
            ));
        }
        _ => {}
    }
    let forced = result.map(|lit| lit.value);
    let last = match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    };
    if forced.is_none()
        && let Some(param) = type_parameter_root(ty, sig)
    {
        return Err(syn::Error::new_spanned(
            ty,
            format!(
                "#[cached] cannot tell whether `{param}` is a `Result` (an `Err` must never be cached): \
                 say `result = true` to cache only `Ok`, or `result = false` to cache the value as it is"
            ),
        ));
    }
    let first_arg = last.and_then(|segment| match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty.clone()),
            _ => None,
        }),
        _ => None,
    });
    let name = last.map(|segment| segment.ident.to_string());
    if forced == Some(true) || (forced.is_none() && name.as_deref() == Some("Result")) {
        return Ok((ty, Returns::Result(first_arg)));
    }
    match (name.as_deref(), first_arg) {
        (Some("Option"), Some(inner)) => Ok((ty, Returns::Option(inner))),
        _ => Ok((ty, Returns::Value)),
    }
}

/// The type parameter of `sig` that `ty` is, or is rooted at (`T`, `T::Output`): what it
/// stands for is not known where the attribute expands.
fn type_parameter_root(ty: &Type, sig: &Signature) -> Option<syn::Ident> {
    let Type::Path(path) = ty else { return None };
    let first = match &path.qself {
        Some(qself) => return type_parameter_root(&qself.ty, sig),
        None => path.path.segments.first()?,
    };
    sig.generics
        .type_params()
        .any(|param| param.ident == first.ident)
        .then(|| first.ident.clone())
}

/// Whether `#[invalidates]` should treat the output as a `Result` (an `Err` invalidates
/// nothing): `Some` when `result = ...` says so; `None` to let the type decide.
fn returns_result(result: Option<&LitBool>) -> Option<bool> {
    result.map(|lit| lit.value)
}

/// Folds the `#[invalidates]` attributes stacked below this one into it: their targets
/// join this one's, and one expansion invalidates them all, under one guard. Expanded one
/// inside the other, the outer one's invalidation would start only once the inner one's
/// had finished, and a caller that dropped the future in between (after the body
/// committed) would leave the outer targets neither invalidated nor pending. The options
/// of the whole write (`cache`, `result`, `when`) must agree; one `write_through` at most.
fn absorb_stacked(
    mut args: InvalidatesArgs,
    func: &ItemFn,
) -> syn::Result<(InvalidatesArgs, ItemFn)> {
    let mut func = func.clone();
    let mut kept = Vec::with_capacity(func.attrs.len());
    for attr in std::mem::take(&mut func.attrs) {
        let stacked = attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "invalidates");
        if !stacked {
            kept.push(attr);
            continue;
        }
        let inner: InvalidatesArgs = attr.parse_args()?;
        same_option("cache", &args.cache, &inner.cache, &attr)?;
        same_option("result", &args.result, &inner.result, &attr)?;
        same_option("when", &args.when, &inner.when, &attr)?;
        match (&args.write_through, inner.write_through) {
            (Some(_), Some(second)) => {
                return Err(syn::Error::new(
                    second.span(),
                    "one `write_through` per write: stacked #[invalidates] are one invalidation",
                ));
            }
            (None, second) => args.write_through = second,
            (Some(_), None) => {}
        }
        args.targets.extend(inner.targets);
    }
    func.attrs = kept;
    Ok((args, func))
}

/// A write-wide option of a stacked `#[invalidates]` must be the same as the outer one's.
fn same_option<T: quote::ToTokens>(
    name: &str,
    outer: &Option<T>,
    inner: &Option<T>,
    attr: &syn::Attribute,
) -> syn::Result<()> {
    let text = |option: &Option<T>| {
        option
            .as_ref()
            .map(|value| quote::ToTokens::to_token_stream(value).to_string())
    };
    if text(outer) == text(inner) {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        attr,
        format!(
            "stacked #[invalidates] are one invalidation, so `{name}` must be the same on each (or put the targets in one attribute with target(...) groups)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::borrows;
    use quote::quote;

    #[test]
    fn borrowed_types_are_told_from_owned_ones() {
        for borrowed in [
            quote!(&str),
            quote!(&mut Vec<u8>),
            quote!(Option<&str>),
            quote!(Cow<'a, str>),
            quote!(&'a Self),
            quote!((u8, &[u8])),
        ] {
            assert!(borrows(borrowed.clone()), "{borrowed}");
        }
        for owned in [
            quote!(String),
            quote!(Arc<PgPool>),
            quote!(&'static str),
            quote!(Option<&'static [u8]>),
            quote!(Cow<'static, str>),
            quote!(Self),
        ] {
            assert!(!borrows(owned.clone()), "{owned}");
        }
    }
}
