//! Checks of a batch site (`#[cached(batch = ids)]`): the parameter holding the ids, the
//! map the function returns, and the options a batch does not take.

use super::Returns;
use crate::args::{CachedArgs, KeyValue};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Signature, Type};

/// A batch site that passed every check.
pub struct Batch<'a> {
    /// The parameter holding the ids.
    pub ids: &'a Ident,
    /// How the body gets the ids that missed (a `Vec` of them) back as that parameter.
    pub given: Given<'a>,
}

/// The type of the ids' parameter, as the body is given the ids that missed.
pub enum Given<'a> {
    /// `&[K]`: a slice of the `Vec`.
    Slice,
    /// `&C` (`&Vec<K>`, `&HashSet<K>`...): a `C` collected from them, borrowed.
    Borrowed(&'a Type),
    /// `C` (`Vec<K>`, `HashSet<K>`...): collected from them.
    Owned(&'a Type),
}

/// Checks `batch = ids` (already checked as a `#[cached]` site, returning `returns`).
pub fn batch<'a>(
    args: &'a CachedArgs,
    sig: &'a Signature,
    returns: &Returns,
) -> syn::Result<Option<Batch<'a>>> {
    let Some((option, ids)) = &args.batch else {
        return Ok(None);
    };
    let not_with = |span: proc_macro2::Span, what: &str, why: &str| {
        Err(syn::Error::new(
            span,
            format!("`{what}` is not supported on a batch site (`batch = ...`): {why}"),
        ))
    };
    let one_at_a_time =
        "it acts on one entry at a time; put it on the single-id read that shares these entries";
    if let Some(lit) = args.write_through.as_ref().filter(|lit| lit.value) {
        return not_with(
            lit.span(),
            "write_through",
            "a write stores through the single-id read's key; mark that read `write_through = true`",
        );
    }
    if let Some(tag) = args
        .tags
        .iter()
        .find(|tag| matches!(tag.value, KeyValue::Result(_)))
    {
        return not_with(
            tag.name.span(),
            "a tag read from the result",
            "each id's value is its own entry; read its tags from the arguments",
        );
    }
    let options = [
        args.fail_safe.as_ref().map(|(name, _)| name.clone()),
        args.timeout.as_ref().map(|(name, _)| name.clone()),
        args.lease.as_ref().map(|(name, _)| name.clone()),
    ];
    if let Some(name) = options.into_iter().flatten().next() {
        return not_with(name.span(), &name.to_string(), one_at_a_time);
    }
    let closures = [("unless", &args.unless), ("ttl_from", &args.ttl_from)];
    if let Some((name, Some(closure))) = closures.iter().find(|(_, closure)| closure.is_some()) {
        return not_with(closure.span(), name, one_at_a_time);
    }
    if let Some(refresh) = &args.refresh {
        return not_with(refresh.span(), "refresh", one_at_a_time);
    }
    if let Some(lit) = args.check_round_trip.as_ref().filter(|lit| lit.value) {
        return not_with(lit.span(), "check_round_trip", one_at_a_time);
    }
    if let Some(lit) = &args.cache_none {
        return not_with(
            lit.span(),
            "cache_none",
            "an id the function does not return is simply not cached",
        );
    }
    if let Returns::Option(_) = returns {
        return Err(syn::Error::new(
            option.span(),
            "a batch function returns its values by id: a map (`HashMap<K, V>`, `BTreeMap<K, V>`, `Vec<(K, V)>`) or a `Result` of one, not an `Option`",
        ));
    }
    if args
        .scope
        .iter()
        .chain(&args.keys)
        .any(|key| key.root.as_ref() == Some(ids))
    {
        return Err(syn::Error::new(
            ids.span(),
            format!(
                "`{ids}` holds the batch's ids: each is already the last key argument of its entry; do not list it among the key arguments"
            ),
        ));
    }
    let ty = sig
        .inputs
        .iter()
        .find_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.ident == *ids => Some(&*typed.ty),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .ok_or_else(|| {
            syn::Error::new(
                ids.span(),
                format!(
                    "`{ids}` is not a parameter of `{}`: `batch` names the parameter that holds the ids",
                    sig.ident
                ),
            )
        })?;
    let given = match ty {
        Type::Reference(reference) if reference.mutability.is_some() => {
            return Err(syn::Error::new(
                reference.span(),
                "the ids of a batch are read, not changed: take them as `&[K]`, `&C` or `C`",
            ));
        }
        Type::Reference(reference) => match &*reference.elem {
            Type::Slice(_) => Given::Slice,
            elem => Given::Borrowed(elem),
        },
        Type::ImplTrait(_) => {
            return Err(syn::Error::new(
                ty.span(),
                "the ids of a batch need a type the missing ones can be collected into: `&[K]`, `Vec<K>`, `HashSet<K>`...",
            ));
        }
        ty => Given::Owned(ty),
    };
    Ok(Some(Batch { ids, given }))
}
