//! Parsing of the attribute arguments into a model; checks that need the function live
//! in `check.rs`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitBool, LitFloat, LitInt, LitStr, Path, Token};

use crate::ttl;

/// A cache prefix: a string literal, or a path to a `&'static str` constant.
#[derive(Clone)]
pub enum Prefix {
    Lit(LitStr),
    Path(Path),
}

/// A TTL: a duration string checked here, or a path to a `Duration` constant.
pub enum Ttl {
    Millis(u64, Span),
    Path(Path),
}

/// A key argument: any expression of the parameters, evaluated once before the body, by
/// reference (`tenant`, `user.tenant_id`, `self.tenant`, `auth.user_id()`, `slug` bound by
/// `Path(slug): Path<String>`).
pub struct KeyExpr {
    /// The name it starts from (`user` in `user.tenant_id`, `auth` in `auth.user_id()`),
    /// checked against the parameters; `None` for an expression with no such name (a
    /// call, a macro), which the compiler checks.
    pub root: Option<Ident>,
    pub expr: Expr,
}

/// Where a key or tag value of `#[invalidates]` comes from: the arguments (read before
/// the body), or the function's result (`|row| row.id`, called with a reference to the
/// `Ok` value, or to the output when it is not a `Result`).
pub enum KeyValue {
    Arg(KeyExpr),
    Result(Expr),
}

impl Parse for KeyValue {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Token![|]) || input.peek(Token![||]) || input.peek(Token![move]) {
            return Ok(KeyValue::Result(input.parse()?));
        }
        Ok(KeyValue::Arg(input.parse()?))
    }
}

/// `tag(name = value)`: a tag of the entry (or of the invalidation) and where its value
/// comes from.
pub struct TagArg {
    pub name: Ident,
    pub value: KeyValue,
}

/// `#[cached(...)]`.
#[derive(Default)]
pub struct CachedArgs {
    pub prefix: Option<Prefix>,
    pub ttl: Option<Ttl>,
    pub scope: Option<KeyExpr>,
    pub keys: Vec<KeyExpr>,
    pub name: Option<LitStr>,
    pub cache: Option<Expr>,
    pub cache_none: Option<LitBool>,
    pub result: Option<LitBool>,
    pub version: Option<u32>,
    pub tags: Vec<TagArg>,
    /// `write_through = true`: writes may store their result under this read's key (a
    /// hidden sibling function builds it).
    pub write_through: Option<LitBool>,
    /// `check_round_trip = true`: in debug builds, each loaded value is encoded, decoded
    /// and compared, and a difference logged.
    pub check_round_trip: Option<LitBool>,
    /// `l1 = "30s"`: values may be kept in the cache's in-process tier that long; the
    /// option's name, for errors.
    pub l1: Option<(Ident, Ttl)>,
    /// `sensitive = true`: values sealed, key arguments hashed (the prefix must be declared
    /// sensitive on the cache, or the site is not cached).
    pub sensitive: Option<LitBool>,
    /// `fail_safe = "1h"`: entries kept that long past their TTL, to answer a failed reload
    /// with; the option's name, for errors.
    pub fail_safe: Option<(Ident, Ttl)>,
    /// `jitter = 0.1`: each entry's TTL spread by up to that fraction either way.
    pub jitter: Option<LitFloat>,
    /// `unless = |value| ...`: true for a value that is returned but not stored.
    pub unless: Option<Expr>,
    /// `ttl_from = |value| ...`: the TTL each value is stored for.
    pub ttl_from: Option<Expr>,
    /// `refresh = 0.8`: past that fraction of its TTL, a hit reloads its entry.
    pub refresh: Option<LitFloat>,
    /// `lease = "5s"`: on a miss, one process of the fleet loads, the others wait that
    /// long at most.
    pub lease: Option<(Ident, Ttl)>,
    /// `timeout = "100ms"`: a caller with a fail-safe value waits that long for its
    /// reload.
    pub timeout: Option<(Ident, Ttl)>,
    /// `batch = ids`: the parameter holding many ids; each is the last key argument of an
    /// entry of its own (the single-id read's), and the function loads those that missed.
    pub batch: Option<(Ident, Ident)>,
    /// `ttl_only = true`: nothing is meant to invalidate this read (for the audit).
    pub ttl_only: Option<LitBool>,
}

/// What one invalidation targets: prefixes, the scope in each (`key`), tag values.
pub struct TargetArgs {
    pub prefixes: Vec<Prefix>,
    pub scope: Option<KeyValue>,
    pub tags: Vec<TagArg>,
    /// Where it was written (`target(` or the attribute), for errors.
    pub span: Span,
}

/// `#[invalidates(...)]`.
#[derive(Default)]
pub struct InvalidatesArgs {
    /// The prefixes, `key` and tags written at the top (the first target, when it has
    /// prefixes), then each `target(...)` group.
    pub targets: Vec<TargetArgs>,
    pub cache: Option<Expr>,
    pub result: Option<LitBool>,
    /// `when = |out| ...`: invalidate only when it says something changed.
    pub when: Option<Expr>,
    /// `write_through = read(args)`: store the result under that cached read's key.
    pub write_through: Option<ThroughCall>,
}

/// `write_through = self.get_item(tenant, id)` (or `Self::get_item(...)`, `get_item(...)`):
/// a call of a `#[cached(write_through = true)]` function, as it would be written to read.
pub enum ThroughCall {
    Method(syn::ExprMethodCall),
    Path(syn::ExprCall),
}

impl quote::ToTokens for ThroughCall {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            ThroughCall::Method(call) => call.to_tokens(tokens),
            ThroughCall::Path(call) => call.to_tokens(tokens),
        }
    }
}

impl Parse for ThroughCall {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        match input.parse::<Expr>()? {
            Expr::MethodCall(call) => Ok(ThroughCall::Method(call)),
            Expr::Call(call) if matches!(*call.func, Expr::Path(_)) => Ok(ThroughCall::Path(call)),
            other => Err(syn::Error::new(
                other.span(),
                "`write_through` names a call of a #[cached(write_through = true)] function with the arguments of its key: write_through = self.get_item(tenant, id)",
            )),
        }
    }
}

/// A duration option (as `ttl` is written), its errors naming `what`.
fn parse_time(input: ParseStream, what: &str) -> syn::Result<Ttl> {
    input
        .parse::<Ttl>()
        .map_err(|e| syn::Error::new(e.span(), e.to_string().replacen("ttl", what, 1)))
}

const CACHED_OPTIONS: &str = "`prefix`, `ttl`, `key`, `name`, `cache`, `cache_none`, `result`, `version`, `write_through`, `check_round_trip`, `l1`, `sensitive`, `ttl_only`, `fail_safe`, `jitter`, `unless`, `ttl_from`, `refresh`, `lease`, `timeout`, `batch`, `tag(name = value, ...)`, or bare parameter names for more key arguments";
const INVALIDATES_OPTIONS: &str = "prefixes (string literals or constant paths), `key`, `cache`, `result`, `when`, `write_through`, `tag(name = value, ...)`, `target(prefix, key = ..., tag(...))`";

/// Sets an option once; a second time is an error on the second name.
fn set_once<T>(slot: &mut Option<T>, name: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("duplicate option `{name}`: give it once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// `name = <value>` where `name` is an identifier.
fn is_option(input: ParseStream) -> bool {
    input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==])
}

/// One item of an attribute's argument list.
enum Item {
    /// `name = <value>`: the name is parsed, the value is left for the caller.
    Option(Ident),
    /// `target(...)`: its contents.
    Target(Ident, proc_macro2::TokenStream),
    /// Anything else (a key argument, a positional prefix).
    Bare,
}

/// Walks a comma-separated argument list, handing each item to `each`; returns the
/// `tag(...)` groups it met, which both attributes take alike.
fn parse_items(
    input: ParseStream,
    mut each: impl FnMut(Item, ParseStream) -> syn::Result<()>,
) -> syn::Result<Vec<TagArg>> {
    let mut all_tags = Vec::new();
    while !input.is_empty() {
        if input.peek(Ident) && input.peek2(syn::token::Paren) && is_group(input, "target") {
            let name: Ident = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            each(Item::Target(name, content.parse()?), input)?;
        } else if input.peek(Ident) && input.peek2(syn::token::Paren) && is_group(input, "tag") {
            let tag: Ident = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            let tags = content.parse_terminated(TagArg::parse, Token![,])?;
            if tags.is_empty() {
                return Err(syn::Error::new(
                    tag.span(),
                    "`tag(...)` names at least one tag: tag(status = filters.status)",
                ));
            }
            all_tags.extend(tags);
        } else if is_option(input) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            each(Item::Option(name), input)?;
        } else {
            each(Item::Bare, input)?;
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(all_tags)
}

/// Whether the input starts with `<name>(`.
fn is_group(input: ParseStream, name: &str) -> bool {
    input
        .fork()
        .parse::<Ident>()
        .is_ok_and(|ident| ident == name)
}

impl Parse for TagArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "a tag is `name = value`: tag(status = filters.status)",
            )
        })?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!("tag `{name}` has no value: write `{name} = <parameter or field>`"),
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(TagArg {
            name,
            value: input.parse()?,
        })
    }
}

fn unknown_option(name: &Ident, expected: &str) -> syn::Error {
    syn::Error::new(
        name.span(),
        format!("unknown option `{name}`; expected {expected}"),
    )
}

impl Parse for CachedArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = CachedArgs::default();
        let tags = parse_items(input, |item, input| {
            let name = match item {
                Item::Option(name) => name,
                Item::Bare => {
                    args.keys.push(input.parse()?);
                    return Ok(());
                }
                Item::Target(name, _) => {
                    return Err(syn::Error::new(
                        name.span(),
                        "`target(...)` belongs to #[invalidates]; a #[cached] read has one key",
                    ));
                }
            };
            match name.to_string().as_str() {
                "prefix" => set_once(&mut args.prefix, &name, input.parse::<PrefixArg>()?.0),
                "ttl" => set_once(&mut args.ttl, &name, input.parse()?),
                "key" => set_once(&mut args.scope, &name, input.parse()?),
                "name" => set_once(&mut args.name, &name, parse_name(input)?),
                "cache" => set_once(&mut args.cache, &name, input.parse()?),
                "cache_none" => set_once(&mut args.cache_none, &name, parse_bool(input, &name)?),
                "result" => set_once(&mut args.result, &name, parse_bool(input, &name)?),
                "version" => set_once(&mut args.version, &name, parse_version(input)?),
                "write_through" => {
                    set_once(&mut args.write_through, &name, parse_bool(input, &name)?)
                }
                "check_round_trip" => {
                    set_once(&mut args.check_round_trip, &name, parse_bool(input, &name)?)
                }
                "sensitive" => set_once(&mut args.sensitive, &name, parse_bool(input, &name)?),
                "ttl_only" => set_once(&mut args.ttl_only, &name, parse_bool(input, &name)?),
                "l1" => {
                    let ttl = parse_time(input, "l1 time")?;
                    set_once(&mut args.l1, &name, (name.clone(), ttl))
                }
                "fail_safe" => {
                    let grace = parse_time(input, "fail-safe time")?;
                    set_once(&mut args.fail_safe, &name, (name.clone(), grace))
                }
                "lease" => {
                    let lease = parse_time(input, "lease time")?;
                    set_once(&mut args.lease, &name, (name.clone(), lease))
                }
                "timeout" => {
                    let timeout = parse_time(input, "timeout")?;
                    set_once(&mut args.timeout, &name, (name.clone(), timeout))
                }
                "jitter" => set_once(&mut args.jitter, &name, parse_fraction(input, &name)?),
                "unless" => set_once(&mut args.unless, &name, parse_closure(input, &name)?),
                "refresh" => set_once(&mut args.refresh, &name, parse_fraction(input, &name)?),
                "ttl_from" => set_once(&mut args.ttl_from, &name, parse_closure(input, &name)?),
                "batch" => {
                    let ids: Ident = input.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`batch` names the parameter that holds the ids: batch = ids",
                        )
                    })?;
                    set_once(&mut args.batch, &name, (name.clone(), ids))
                }
                _ => Err(unknown_option(&name, CACHED_OPTIONS)),
            }
        })?;
        args.tags = tags;
        Ok(args)
    }
}

impl Parse for InvalidatesArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = InvalidatesArgs::default();
        let mut top = TargetArgs {
            prefixes: Vec::new(),
            scope: None,
            tags: Vec::new(),
            span: Span::call_site(),
        };
        let mut groups = Vec::new();
        let tags = parse_items(input, |item, input| {
            let name = match item {
                Item::Option(name) => name,
                Item::Bare => {
                    top.prefixes.push(input.parse::<PrefixArg>()?.0);
                    return Ok(());
                }
                Item::Target(name, content) => {
                    let mut target = syn::parse2::<TargetArgs>(content)?;
                    target.span = name.span();
                    groups.push(target);
                    return Ok(());
                }
            };
            match name.to_string().as_str() {
                "key" => set_once(&mut top.scope, &name, input.parse()?),
                "cache" => set_once(&mut args.cache, &name, input.parse()?),
                "result" => set_once(&mut args.result, &name, parse_bool(input, &name)?),
                "when" => set_once(&mut args.when, &name, input.parse()?),
                "write_through" => set_once(&mut args.write_through, &name, input.parse()?),
                "prefix" => {
                    top.prefixes.push(input.parse::<PrefixArg>()?.0);
                    Ok(())
                }
                _ => Err(unknown_option(&name, INVALIDATES_OPTIONS)),
            }
        })?;
        top.tags = tags;
        if top.prefixes.is_empty() && !groups.is_empty() {
            let stray = top
                .scope
                .as_ref()
                .map(KeyValue::span)
                .or(top.tags.first().map(|tag| tag.name.span()));
            if let Some(span) = stray {
                return Err(syn::Error::new(
                    span,
                    "with `target(...)` groups, a `key` or `tag(...)` at the top has no prefix to apply to: put it inside a target(\"prefix\", key = ...)",
                ));
            }
        }
        if !top.prefixes.is_empty() || groups.is_empty() {
            args.targets.push(top);
        }
        args.targets.extend(groups);
        Ok(args)
    }
}

impl KeyValue {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            KeyValue::Arg(key) => key.expr.span(),
            KeyValue::Result(closure) => closure.span(),
        }
    }
}

/// The inside of `target(...)`: prefixes, `key = ...`, `tag(...)`.
impl Parse for TargetArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut target = TargetArgs {
            prefixes: Vec::new(),
            scope: None,
            tags: Vec::new(),
            span: Span::call_site(),
        };
        let tags = parse_items(input, |item, input| match item {
            Item::Bare => {
                target.prefixes.push(input.parse::<PrefixArg>()?.0);
                Ok(())
            }
            Item::Option(name) if name == "key" => {
                set_once(&mut target.scope, &name, input.parse()?)
            }
            Item::Option(name) if name == "prefix" => {
                target.prefixes.push(input.parse::<PrefixArg>()?.0);
                Ok(())
            }
            Item::Option(name) | Item::Target(name, _) => Err(syn::Error::new(
                name.span(),
                format!(
                    "`{name}` does not belong inside `target(...)`, which takes prefixes, `key` and `tag(...)`; options of the whole write (`cache`, `when`, `write_through`...) go beside the targets"
                ),
            )),
        })?;
        target.tags = tags;
        Ok(target)
    }
}

/// A prefix in argument position, with a message that says what is accepted.
struct PrefixArg(Prefix);

impl Parse for PrefixArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "the prefix must not be empty"));
            }
            return Ok(PrefixArg(Prefix::Lit(lit)));
        }
        let expr: Expr = input.parse()?;
        match expr {
            Expr::Path(path) if path.qself.is_none() => Ok(PrefixArg(Prefix::Path(path.path))),
            other => Err(syn::Error::new(
                other.span(),
                "a prefix is a string literal (\"fmpa\") or a path to a `&'static str` constant (prefix::FMPA)",
            )),
        }
    }
}

impl Parse for Ttl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return match ttl::parse(&lit.value()) {
                Ok(millis) => Ok(Ttl::Millis(millis, lit.span())),
                Err(why) => Err(syn::Error::new(
                    lit.span(),
                    format!("invalid ttl {:?}: {why}", lit.value()),
                )),
            };
        }
        let expr: Expr = input.parse()?;
        match expr {
            Expr::Path(path) if path.qself.is_none() => Ok(Ttl::Path(path.path)),
            other => Err(syn::Error::new(
                other.span(),
                "a ttl is a duration string (\"30s\", \"5m\", \"1h30m\") or a path to a `Duration` constant (ttl::LIST_SHORT, a constant of your own)",
            )),
        }
    }
}

impl Parse for KeyExpr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let expr: Expr = input.parse()?;
        let root = key_root(&expr)?;
        Ok(KeyExpr { root, expr })
    }
}

/// The name a key expression starts from: an identifier, or the base of a field access, a
/// method call, an index, a reference or a cast; `None` for other expressions.
fn key_root(expr: &Expr) -> syn::Result<Option<Ident>> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.get_ident().is_some() => {
            Ok(Some(path.path.segments[0].ident.clone()))
        }
        Expr::Field(field) => key_root(&field.base),
        Expr::MethodCall(call) => key_root(&call.receiver),
        Expr::Index(index) => key_root(&index.expr),
        Expr::Reference(reference) => key_root(&reference.expr),
        Expr::Paren(paren) => key_root(&paren.expr),
        Expr::Cast(cast) => key_root(&cast.expr),
        Expr::Unary(unary) => key_root(&unary.expr),
        Expr::Try(tried) => Err(syn::Error::new(
            tried.question_token.span(),
            "a key is computed before the body runs, where `?` has nothing to return to: compute a value that cannot fail",
        )),
        Expr::Infer(infer) => Err(syn::Error::new(
            infer.span(),
            "`_` is not a parameter: name the parameter that enters the key",
        )),
        _ => Ok(None),
    }
}

fn parse_bool(input: ParseStream, name: &Ident) -> syn::Result<LitBool> {
    input
        .parse::<LitBool>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{name}` takes `true` or `false`")))
}

/// A closure of the value: `|page: &Page| page.rows.is_empty()`.
fn parse_closure(input: ParseStream, name: &Ident) -> syn::Result<Expr> {
    let expr: Expr = input.parse()?;
    match expr {
        Expr::Closure(ref closure) if closure.inputs.len() == 1 => Ok(expr),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes a closure of the value to store: {name} = |value: &T| ..."),
        )),
    }
}

/// A fraction of the TTL: a float literal from 0.0 to 1.0.
fn parse_fraction(input: ParseStream, name: &Ident) -> syn::Result<LitFloat> {
    let lit = input.parse::<LitFloat>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{name}` takes a fraction of the TTL, e.g. {name} = 0.1"),
        )
    })?;
    match lit.base10_parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(lit),
        _ => Err(syn::Error::new(
            lit.span(),
            format!(
                "`{name}` is a fraction of the TTL, from 0.0 to 1.0 (0.1: each TTL within ±10%)"
            ),
        )),
    }
}

fn parse_name(input: ParseStream) -> syn::Result<LitStr> {
    let lit = input
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), "`name` takes a string literal: name = \"list\""))?;
    if lit.value().is_empty() {
        return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
    }
    Ok(lit)
}

/// `version = 2`, parsed once, here.
fn parse_version(input: ParseStream) -> syn::Result<u32> {
    let lit = input
        .parse::<LitInt>()
        .map_err(|e| syn::Error::new(e.span(), "`version` takes an integer: version = 2"))?;
    lit.base10_parse::<u32>()
        .map_err(|_| syn::Error::new(lit.span(), "`version` must fit in a u32"))
}
