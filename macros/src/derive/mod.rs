//! `#[derive(Compressible)]`: parse the struct into the IR, check every shape, then expand — or,
//! on any mistake, emit every error with stub impls (see [`fallback`]).

mod ast;
mod attr;
mod check;
mod expand;
mod fallback;
mod layer_type;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

pub fn derive(item: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let container = ast::Container::from_ast(&cx, item);
    let checked = container.as_ref().and_then(|container| check::check(&cx, container));
    match (cx.check(), container, checked) {
        (Ok(()), Some(container), Some(checked)) => expand::expand(&container, &checked),
        (Err(errors), _, _) => fallback::expand(item, errors),
        (Ok(()), _, _) => fallback::expand(
            item,
            vec![syn::Error::new_spanned(&item.ident, "fasterai-macros bug: the model was rejected without an error")],
        ),
    }
}
