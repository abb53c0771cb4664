//! What the derive emits when the model has mistakes: the errors, and stub impls of the traits it
//! would have implemented, so that code using the model reports nothing but those errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub fn expand(item: &DeriveInput, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(|error| error.into_compile_error());
    let p = quote!(::fasterai::__private);
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let description = quote! {
        #[automatically_derived]
        impl #impl_generics #p::Compressible for #ident #ty_generics #where_clause {
            const INPUT: #p::ShapeInfo = #p::ShapeInfo::Flat { n: 0 };
            const LAYERS: &'static [#p::LayerInfo] = &[];
            const COUPLINGS: &'static [#p::Coupling] = &[];
        }
    };
    // The dfdx impls only make sense for the non-generic structs the derive supports.
    let modules = if item.generics.params.is_empty() {
        let collection = super::expand::collection_impls(ident, quote!(_), quote!(::core::unreachable!()));
        quote! {
            #collection

            #[automatically_derived]
            impl<__I> #p::Module<__I> for #ident {
                type Output = __I;
                type Error = #p::NnError;

                fn try_forward(&self, _: __I) -> ::core::result::Result<__I, #p::NnError> {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl<__I> #p::ModuleMut<__I> for #ident {
                type Output = __I;
                type Error = #p::NnError;

                fn try_forward_mut(&mut self, _: __I) -> ::core::result::Result<__I, #p::NnError> {
                    ::core::unreachable!()
                }
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        #(#errors)*
        #[doc(hidden)]
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            #description
            #modules
        };
    }
}
