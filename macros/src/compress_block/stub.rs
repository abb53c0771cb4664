//! What `compress!` emits beside its errors: a stub of the declared type with the items the block
//! would have generated (`from_source`, `compress`, `STAGES`, the derive's traits), bodies
//! `unreachable!()`, so code using the new type reports nothing but the block's own mistakes.

use proc_macro2::TokenStream;
use quote::quote;

use super::parse::{Arg, Schedule};

pub fn stub(schedule: &Schedule) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let Schedule { attrs, vis, name, model, stages } = schedule;
    let prunes = stages.iter().any(|stage| stage.name == "prune");
    let plan = prunes.then(|| quote!(_: &#p::PrunePlan,));
    let teacher = stages.iter().flat_map(|stage| &stage.args).find_map(|arg| match arg {
        Arg::Typed { key, ty } if key == "teacher" => Some(quote!(_: &#ty,)),
        _ => None,
    });
    let item: syn::DeriveInput = syn::parse_quote!(#vis struct #name {});
    let impls = crate::derive::fallback_impls(&item);
    quote! {
        #(#attrs)*
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #name {}

        #impls

        #[allow(dead_code, clippy::all)]
        impl #name {
            /// The stages of this `compress!` block (empty: the block has mistakes).
            pub const STAGES: &'static [#p::StageSpec] = &[];

            /// Not available: the `compress!` block has mistakes.
            pub fn from_source(_: &#model, #plan) -> ::core::result::Result<Self, #p::StructError> {
                ::core::unreachable!()
            }

            /// Not available: the `compress!` block has mistakes.
            pub fn compress<__D>(
                _: #model,
                #teacher
                _: __D,
                _: #p::Output,
            ) -> ::core::result::Result<#p::Compressed<Self>, #p::Error> {
                ::core::unreachable!()
            }
        }
    }
}
