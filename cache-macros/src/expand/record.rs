//! The site's entry in the registry (`cache_core::audit`): what the attribute says, as
//! written, submitted at link time.

use crate::args::{CachedArgs, InvalidatesArgs, KeyExpr, KeyValue, Prefix, TagArg, ThroughCall};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Expr, FnArg, LitStr, Pat, Signature};

/// Tokens as text, without the spaces `to_string` puts between every two tokens (kept
/// between two words: `&'a str`, `dyn Trait`).
fn tidy(tokens: impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_words =
            i > 0 && i + 1 < chars.len() && word(chars[i - 1]) && word(chars[i + 1]);
        if c != ' ' || between_words {
            out.push(c);
        }
    }
    out
}

/// The type of the parameter named `name`, as written; empty if none is.
fn param_type(sig: &Signature, name: &syn::Ident) -> String {
    sig.inputs
        .iter()
        .find_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.ident == *name => Some(tidy(&typed.ty)),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .unwrap_or_default()
}

/// `Arg { expr, ty }` of a key expression: its type when it is a parameter itself.
fn arg(sig: &Signature, key: &KeyExpr) -> TokenStream {
    let expr = tidy(&key.expr);
    let ty = match &key.expr {
        Expr::Path(path) => path
            .path
            .get_ident()
            .map(|ident| param_type(sig, ident))
            .unwrap_or_default(),
        _ => String::new(),
    };
    quote!(::cache_core::audit::Arg { expr: #expr, ty: #ty })
}

/// `Some(Arg)` of an invalidation's scope, from the arguments or from the result (type
/// unknown).
fn scope(sig: &Signature, value: Option<&KeyValue>) -> TokenStream {
    match value {
        None => quote!(::core::option::Option::None),
        Some(KeyValue::Arg(key)) => {
            let arg = arg(sig, key);
            quote!(::core::option::Option::Some(#arg))
        }
        Some(KeyValue::Result(closure)) => {
            let expr = tidy(closure);
            quote!(::core::option::Option::Some(::cache_core::audit::Arg { expr: #expr, ty: "" }))
        }
    }
}

fn tag_names(tags: &[TagArg]) -> Vec<String> {
    tags.iter().map(|tag| tag.name.to_string()).collect()
}

/// The entry of the function named `sig`: the `Site` literal, with the file and line of
/// the attribute.
fn submit(
    kind: TokenStream,
    sig: &Signature,
    prefixes: &[&Prefix],
    fields: TokenStream,
) -> TokenStream {
    let function = sig.ident.to_string();
    quote! {
        ::cache_core::__private::inventory::submit! {
            ::cache_core::audit::Site {
                kind: ::cache_core::audit::Kind::#kind,
                function: #function,
                file: ::core::file!(),
                line: ::core::line!(),
                prefixes: &[#(#prefixes),*],
                #fields
            }
        }
    }
}

/// The entry of a `#[cached]` site.
pub fn read(
    args: &CachedArgs,
    sig: &Signature,
    prefix: &Prefix,
    name: &LitStr,
    stored: &TokenStream,
) -> TokenStream {
    let scope = match &args.scope {
        Some(key) => {
            let arg = arg(sig, key);
            quote!(::core::option::Option::Some(#arg))
        }
        None => quote!(::core::option::Option::None),
    };
    let keys = args.keys.iter().map(|key| arg(sig, key));
    let tags = tag_names(&args.tags);
    let value_type = tidy(stored);
    let version = args.version.unwrap_or(0);
    let ttl = match &args.ttl {
        Some(crate::args::Ttl::Millis(millis, _)) => humanize(*millis),
        Some(crate::args::Ttl::Path(path)) => tidy(path),
        None => String::new(),
    };
    let flag = |lit: &Option<syn::LitBool>| lit.as_ref().is_some_and(|lit| lit.value);
    let ttl_only = flag(&args.ttl_only);
    let sensitive = flag(&args.sensitive);
    let l1 = args.l1.is_some();
    let through: Vec<&str> = match flag(&args.write_through) {
        true => vec!["self"],
        false => vec![],
    };
    submit(
        quote!(Read),
        sig,
        &[prefix],
        quote! {
            name: #name,
            version: #version,
            scope: #scope,
            args: &[#(#keys),*],
            tags: &[#(#tags),*],
            value_type: #value_type,
            ttl: #ttl,
            ttl_only: #ttl_only,
            l1: #l1,
            sensitive: #sensitive,
            write_through: &[#(#through),*],
        },
    )
}

/// The value type of a batch site's map (`HashMap<K, V>`, `BTreeMap<K, V>`,
/// `Vec<(K, V)>`): what each id's entry stores; nothing (not compared) for another form.
pub fn batch_value(map: &syn::Type) -> TokenStream {
    let syn::Type::Path(path) = map else {
        return quote!();
    };
    let Some(syn::PathArguments::AngleBracketed(args)) =
        path.path.segments.last().map(|segment| &segment.arguments)
    else {
        return quote!();
    };
    let types: Vec<&syn::Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [_, value, ..] => quote!(#value),
        [syn::Type::Tuple(pair)] if pair.elems.len() == 2 => {
            let value = &pair.elems[1];
            quote!(#value)
        }
        _ => quote!(),
    }
}

/// A TTL in milliseconds as a person writes it (`5m`, `90s`, `250ms`).
fn humanize(millis: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// The entries of an `#[invalidates]` function: one per target.
pub fn writes(args: &InvalidatesArgs, sig: &Signature) -> TokenStream {
    let through: Vec<String> = match &args.write_through {
        Some(ThroughCall::Method(call)) => vec![call.method.to_string()],
        Some(ThroughCall::Path(call)) => match &*call.func {
            Expr::Path(path) => path
                .path
                .segments
                .last()
                .map(|segment| vec![segment.ident.to_string()])
                .unwrap_or_default(),
            _ => vec![],
        },
        None => vec![],
    };
    let entries = args.targets.iter().map(|target| {
        let prefixes: Vec<&Prefix> = target.prefixes.iter().collect();
        let scope = scope(sig, target.scope.as_ref());
        let tags = tag_names(&target.tags);
        submit(
            quote!(Invalidate),
            sig,
            &prefixes,
            quote! {
                name: "",
                version: 0,
                scope: #scope,
                args: &[],
                tags: &[#(#tags),*],
                value_type: "",
                ttl: "",
                ttl_only: false,
                l1: false,
                sensitive: false,
                write_through: &[#(#through),*],
            },
        )
    });
    quote!(#(#entries)*)
}
