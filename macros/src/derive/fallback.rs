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
        quote! {
            #[automatically_derived]
            impl #p::TensorCollection<f32, #p::Cpu> for #ident {
                type To<__E2: #p::Dtype, __D2: #p::Device<__E2>> = #ident;

                fn iter_tensors<__V: #p::ModuleVisitor<Self, f32, #p::Cpu>>(
                    _: &mut __V,
                ) -> ::core::result::Result<::core::option::Option<Self::To<__V::E2, __V::D2>>, __V::Err> {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl #p::BuildOnDevice<#p::Cpu, f32> for #ident {
                type Built = #ident;
            }

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
