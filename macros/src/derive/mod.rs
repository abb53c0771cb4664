//! `#[derive(Compressible)]`: parse the struct into the IR, check every shape, then expand — or,
//! on any mistake, emit every error with stub impls (see [`fallback`]).

mod ast;
mod attr;
mod bind;
mod block;
mod check;
mod expand;
mod fallback;
mod layer_type;

pub use block::{derive_with_blocks, parse_carried};

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

pub fn derive(item: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let container = ast::Container::from_ast(&cx, item);
    if let Some(container) = container.as_ref().filter(|container| container.residual) {
        block::check_block(&cx, container);
        return match cx.check() {
            Ok(()) => {
                let code = block::expand_block(container);
                let callback = model_macro(item, Callback::Block { checked: true }, &TokenStream::new());
                quote::quote!(#code #callback)
            }
            Err(errors) => {
                let stubs = fallback::expand(item, errors);
                let callback = model_macro(item, Callback::Block { checked: false }, &TokenStream::new());
                quote::quote!(#stubs #callback)
            }
        };
    }
    let types = container.as_ref().map(block::block_types).unwrap_or_default();
    if !types.is_empty() {
        // The blocks' layers arrive through their macros; the model is expanded once all have.
        return match cx.check() {
            Ok(()) => block::start(item, &types),
            Err(errors) => unchecked(item, errors),
        };
    }
    derive_checked(cx, item, container, &block::Blocks::default())
}

/// Checks `container` (read from `item` with `cx`), with `blocks` known, and expands it — or, on
/// any mistake, emits every error with stub impls.
fn derive_checked(cx: Ctxt, item: &DeriveInput, container: Option<ast::Container>, blocks: &block::Blocks) -> TokenStream {
    let checked = container.as_ref().and_then(|container| check::check(&cx, container, blocks));
    match (cx.check(), container, checked) {
        (Ok(()), Some(container), Some(checked)) => {
            let code = expand::expand(&container, &checked);
            let bindings = bind::bindings(&container);
            let callback = model_macro(item, Callback::Model { checked: true }, &blocks.carried);
            quote::quote!(#code #bindings #callback)
        }
        (Err(errors), _, _) => unchecked(item, errors),
        (Ok(()), _, _) => fallback::expand(
            item,
            vec![syn::Error::new_spanned(&item.ident, "fasterai-macros bug: the model was rejected without an error")],
        ),
    }
}

/// The errors, stub impls, and a macro that carries no struct.
fn unchecked(item: &DeriveInput, errors: Vec<syn::Error>) -> TokenStream {
    let stubs = fallback::expand(item, errors);
    let callback = model_macro(item, Callback::Model { checked: false }, &TokenStream::new());
    quote::quote!(#stubs #callback)
}

/// The stub impls of the derive's traits for `item`, without errors (for `compress!`'s stub).
pub fn fallback_impls(item: &DeriveInput) -> TokenStream {
    fallback::expand(item, Vec::new())
}

/// The checked IR of a model struct and its residual blocks (`blocks`: the block types as the
/// model writes them, with their structs), for `compress!`. The struct was already checked by the
/// derive, so errors here are unexpected but still reported.
pub fn model_of(cx: &Ctxt, item: &DeriveInput, blocks: &[(syn::Type, DeriveInput)]) -> Option<crate::ir::Model> {
    block::model_with_blocks(cx, item, blocks)
}

/// What a derive's macro carries.
#[derive(Clone, Copy)]
enum Callback {
    /// A model: `compress!` calls the macro with its schedule.
    Model { checked: bool },
    /// A residual block: a model's derive calls the macro to learn its layers.
    Block { checked: bool },
}

/// `macro_rules! __fasterai_model_<Name>`: hands the struct's layers to `compress!` (see
/// `crate::compress_block`) or, for a residual block, to the derive of a model that uses it (see
/// [`block`]). It is re-exported as `<Name>` in the macro namespace, so that wherever the type can
/// be named, by path or through a `use`, so can its macro. Only what the IR needs is carried:
/// `#[compressible]`, field names, `#[tap]`, `#[layer]`, `#[shortcut]`, `#[block]`, `#[torch]`, types. When the
/// struct has mistakes the macro carries no struct, and its users emit only stubs.
fn model_macro(item: &DeriveInput, callback: Callback, blocks: &TokenStream) -> TokenStream {
    let name = crate::compress_block::model_macro(&item.ident);
    let ident = &item.ident;
    let export = quote::quote! {
        #[doc(hidden)]
        #[allow(unused_imports)]
        pub(crate) use #name as #ident;
    };
    let checked = match callback {
        Callback::Model { checked } | Callback::Block { checked } => checked,
    };
    let attrs = item.attrs.iter().filter(|attr| attr.path().is_ident(attr::COMPRESSIBLE));
    let fields = match &item.data {
        syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(named), .. }) if checked => named.named.iter().collect(),
        _ => Vec::new(),
    };
    let fields = fields.into_iter().map(|field| {
        let carried = field.attrs.iter().filter(|attr| {
            [attr::TAP, attr::LAYER, attr::SHORTCUT, attr::BLOCK, attr::TORCH].iter().any(|name| attr.path().is_ident(name))
        });
        let (field, ty) = (&field.ident, &field.ty);
        quote::quote!(#(#carried)* #field: #ty)
    });
    let definition = if checked { quote::quote!({ #(#attrs)* struct #ident { #(#fields),* } }) } else { quote::quote!({}) };
    // A model also carries its blocks, for `compress!`.
    let carried = quote::quote!({ #blocks });
    let arms = match callback {
        Callback::Model { .. } => {
            let not_a_block = format!(
                "`{ident}` is a model, not a residual block: a `#[block]` field holds structs deriving `Compressible` \
                 with `#[compressible(residual)]`"
            );
            quote::quote! {
                (@fasterai_block { $($state:tt)* }) => { ::core::compile_error!(#not_a_block); };
                ($($schedule:tt)*) => {
                    ::fasterai::__private::compress_with_model! { #definition #carried $($schedule)* }
                };
            }
        }
        Callback::Block { .. } => {
            let not_a_model = format!(
                "`{ident}` is a residual block, not a model: `compress!` takes the model whose `#[block]` fields hold it"
            );
            quote::quote! {
                (@fasterai_block { $($state:tt)* }) => {
                    ::fasterai::__private::derive_with_blocks! { $($state)* #definition }
                };
                ($($schedule:tt)*) => {
                    ::core::compile_error!(#not_a_model);
                    ::fasterai::__private::compress_with_model! { {} {} $($schedule)* }
                };
            }
        }
    };
    quote::quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #name {
            #arms
        }
        #export
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expansion up to the model's macro (whose arms hold the messages for a misuse of the macro).
    fn expand(source: &str) -> String {
        let code = derive(&syn::parse_str(source).unwrap()).to_string();
        code.split("macro_rules !").next().unwrap().to_string()
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
    fn torch_names_reach_the_description_and_tensor_prefixes_stay_ours() {
        let code = expand(
            r#"#[compressible(input = [1, 8, 8])]
             struct Net { #[torch = "features.0"] conv: Conv2D<1, 4, 3, 1, 1>, relu: ReLU, gap: GlobalAvgPool, fc: Linear<4, 2> }"#,
        );
        assert!(!code.contains("compile_error"), "{code}");
        let torch = code.split("TORCH_NAMES").nth(1).and_then(|rest| rest.split("] ;").next()).expect("the description lists PyTorch names");
        assert!(torch.contains(r#"layer : "conv" , torch : "features.0""#), "{torch}");
        assert!(torch.contains(r#"layer : "fc" , torch : "fc""#), "{torch}");
        assert!(!torch.contains(r#""relu""#), "a layer without tensors has no PyTorch name: {torch}");
        assert!(code.contains(r#"module ("conv""#), "the tensor prefix is still the field's");
    }

    #[test]
    fn many_tensor_fields_nest_into_tuples_of_six() {
        let fields: Vec<String> = (0..40).map(|i| format!("fc{i}: Linear<3, 3>")).collect();
        let code = expand(&format!("#[compressible(input = [3])] struct Deep {{ {} }}", fields.join(", ")));
        assert!(!code.contains("compile_error"), "{code}");
        assert!(code.contains("__field_fc39"));
    }
}
