//! `#[derive(Compressible)]`: parse the struct into the IR, check every shape, then expand — or,
//! on any mistake, emit every error with stub impls (see [`fallback`]).

mod ast;
mod attr;
mod bind;
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
        (Ok(()), Some(container), Some(checked)) => {
            let code = expand::expand(&container, &checked);
            let bindings = bind::bindings(&container);
            let callback = model_macro(item, true);
            quote::quote!(#code #bindings #callback)
        }
        (Err(errors), _, _) => {
            let stubs = fallback::expand(item, errors);
            let callback = model_macro(item, false);
            quote::quote!(#stubs #callback)
        }
        (Ok(()), _, _) => fallback::expand(
            item,
            vec![syn::Error::new_spanned(&item.ident, "fasterai-macros bug: the model was rejected without an error")],
        ),
    }
}

/// The stub impls of the derive's traits for `item`, without errors (for `compress!`'s stub).
pub fn fallback_impls(item: &DeriveInput) -> TokenStream {
    fallback::expand(item, Vec::new())
}

/// The checked IR of a model struct, for `compress!` (the struct was already checked by the
/// derive, so errors here are unexpected but still reported).
pub fn model_of(cx: &Ctxt, item: &DeriveInput) -> Option<crate::ir::Model> {
    let container = ast::Container::from_ast(cx, item)?;
    check::check(cx, &container).map(|checked| checked.model)
}

/// `macro_rules! __fasterai_model_<Name>`: hands the struct's layers to `compress!` (see
/// `crate::compress_block`), re-exported as `<Name>` in the macro namespace, so that wherever the type
/// can be named, by path or through a `use`, so can its macro. Only what the IR needs is carried:
/// `input`, field names, `#[tap]`, `#[layer]`, types. When the model has mistakes (`checked` false)
/// the macro carries no struct, and `compress!` emits only a stub of its type.
fn model_macro(item: &DeriveInput, checked: bool) -> TokenStream {
    let name = crate::compress_block::model_macro(&item.ident);
    let ident = &item.ident;
    let export = quote::quote! {
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #name as #ident;
    };
    if !checked {
        return quote::quote! {
            #[doc(hidden)]
            #[allow(unused_macros)]
            macro_rules! #name {
                ($($schedule:tt)*) => {
                    ::fasterai::__private::compress_with_model! { {} $($schedule)* }
                };
            }
            #export
        };
    }
    let attrs = item.attrs.iter().filter(|attr| attr.path().is_ident(attr::COMPRESSIBLE));
    let fields = match &item.data {
        syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) => &named.named,
        _ => return TokenStream::new(),
    };
    let fields = fields.iter().map(|field| {
        let carried = field.attrs.iter().filter(|attr| attr.path().is_ident(attr::TAP) || attr.path().is_ident(attr::LAYER));
        let (field, ty) = (&field.ident, &field.ty);
        quote::quote!(#(#carried)* #field: #ty)
    });
    quote::quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #name {
            ($($schedule:tt)*) => {
                ::fasterai::__private::compress_with_model! {
                    { #(#attrs)* struct #ident { #(#fields),* } }
                    $($schedule)*
                }
            };
        }
        #export
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(source: &str) -> String {
        derive(&syn::parse_str(source).unwrap()).to_string()
    }

    /// Every absolute path in the output starts with `::fasterai::__private` or `::core`.
    fn absolute_paths_are_hygienic(code: &str) {
        let mut checked = 0;
        for (at, _) in code.match_indices(":: ") {
            let before = code[..at].trim_end();
            // Only leading `::` (after a delimiter or keyword), not `a :: b`.
            // `<T as Trait>::item` continues a qualified path; `-> ::core` starts one.
            let leading = before.ends_with(['(', '<', '{', ',', ';', '=', '!', '&', '[', ':'])
                || before.ends_with("->")
                || before.ends_with(" for")
                || before.ends_with(" impl");
            if leading {
                let rest = &code[at + 3..];
                assert!(rest.starts_with("fasterai :: __private") || rest.starts_with("core"), "bare path at `{}`", &rest[..40.min(rest.len())]);
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} absolute paths found");
    }

    #[test]
    fn a_checked_model_expands_with_hygienic_paths() {
        let code = expand(
            "#[compressible(input = [1, 8, 8])]
             struct Net { conv: Conv2D<1, 4, 3, 1, 1>, #[tap] relu: ReLU, gap: GlobalAvgPool, fc: Linear<4, 2> }",
        );
        assert!(!code.contains("compile_error"), "{code}");
        assert!(code.contains("struct NetTaps"));
        assert!(code.contains("\"conv\""), "the tensor prefix is the field name");
        absolute_paths_are_hygienic(&code);
    }

    #[test]
    fn a_rejected_model_expands_to_errors_and_stubs_only() {
        let code = expand("#[compressible(input = [4])] struct Net { fc: Linear<5, 2> }");
        assert_eq!(code.matches("compile_error").count(), 1, "{code}");
        assert!(code.contains("unreachable"), "stub bodies: {code}");
        absolute_paths_are_hygienic(&code);
    }

    #[test]
    fn many_tensor_fields_nest_into_tuples_of_six() {
        let fields: Vec<String> = (0..40).map(|i| format!("fc{i}: Linear<3, 3>")).collect();
        let code = expand(&format!("#[compressible(input = [3])] struct Deep {{ {} }}", fields.join(", ")));
        assert!(!code.contains("compile_error"), "{code}");
        assert!(code.contains("__field_fc39"));
    }
}
