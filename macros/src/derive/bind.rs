//! Binds each field to the layer the derive read from its type's name: rustc must confirm that
//! the field's type IS fasterai's layer with those sizes (`IsLayer`), so a type of one's own called
//! `ReLU`, or an alias of something else, cannot be frozen as fasterai's.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Container;

/// `const _: fn() = || { assert_layer::<FieldType, layers::Name<sizes>>(); .. };`, each assertion
/// spanned on the field's type so the error points there.
pub fn bindings(container: &Container) -> TokenStream {
    let checks = container.fields.iter().filter_map(|field| {
        let layer = field.layer.as_ref()?;
        let ty = field.ty;
        let name = &layer.ident;
        let args = &layer.literal_args;
        let canonical = if args.is_empty() {
            quote!(::fasterai::__private::layers::#name)
        } else {
            quote!(::fasterai::__private::layers::#name<#(#args),*>)
        };
        Some(quote_spanned!(ty.span()=> ::fasterai::__private::assert_layer::<#ty, #canonical>();))
    });
    quote! {
        #[doc(hidden)]
        const _: fn() = || {
            #(#checks)*
        };
    }
}
