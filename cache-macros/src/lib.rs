//! Placeholder.
use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn cached(_: TokenStream, item: TokenStream) -> TokenStream {
    item
}
#[proc_macro_attribute]
pub fn invalidates(_: TokenStream, item: TokenStream) -> TokenStream {
    item
}
