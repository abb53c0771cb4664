//! `compress!`: a schedule of compression stages applied to a model, producing a new type.
//!
//! A proc macro sees only its own tokens, not the fields of the model it names. So
//! `#[derive(Compressible)]` also defines a hidden `macro_rules! __fasterai_model_<Model>` that
//! carries the model's struct (its `input` attribute, field names, `#[tap]`s and layer types) as
//! tokens. `compress!` checks the block's syntax, then expands to a call of that macro, which
//! calls [`compress_with_model`] with the struct and the block: the callback pattern. The macro
//! follows textual scoping, so `compress!` must come after the model's struct, in the same module
//! or a child module declared after it.

mod check;
mod convert;
mod generate;
mod parse;
mod plan_file;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{braced, DeriveInput};

use crate::ctxt::Ctxt;
use crate::derive::model_of;
use parse::Schedule;

/// The name of the hidden macro the derive defines for `model`.
pub fn model_macro(model: &syn::Ident) -> syn::Ident {
    format_ident!("__fasterai_model_{}", model, span = model.span())
}

/// `compress! { ... }`: checks the syntax, then calls the model's macro with the whole block.
pub fn compress(input: TokenStream) -> TokenStream {
    let schedule: Schedule = match syn::parse2(input.clone()) {
        Ok(schedule) => schedule,
        Err(error) => return error.to_compile_error(),
    };
    let callback = model_macro(&schedule.model);
    quote!(#callback! { #input })
}

/// `{ struct } schedule`, as the model's macro passes them.
struct WithModel {
    item: DeriveInput,
    schedule: Schedule,
}

impl Parse for WithModel {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        braced!(content in input);
        Ok(WithModel { item: content.parse()?, schedule: input.parse()? })
    }
}

/// The second step: the model's layers are known, so every stage is checked and the new type
/// generated.
pub fn compress_with_model(input: TokenStream) -> TokenStream {
    let WithModel { item, schedule } = match syn::parse2(input) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let source = model_of(&cx, &item);
    let checked = source.as_ref().and_then(|model| check::check(&cx, &schedule, model));
    match (cx.check(), checked, source) {
        (Ok(()), Some(checked), Some(source)) => {
            let generated = generate::generate(&schedule, &checked);
            // One conversion per structural stage for now; chained stages get the type only.
            let structural: Vec<String> = schedule
                .stages
                .iter()
                .map(|stage| stage.name.to_string())
                .filter(|name| matches!(name.as_str(), "prune" | "fold" | "factorize"))
                .collect();
            let conversion = match structural.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["prune"] => convert::from_source(&schedule.name, &schedule.model, &source, &checked.model),
                ["fold"] => convert::fold_from_source(&schedule.name, &schedule.model, &source),
                ["factorize"] => {
                    convert::factorize_from_source(&schedule.name, &schedule.model, &source, &checked.model)
                }
                _ => TokenStream::new(),
            };
            quote!(#generated #conversion)
        }
        (Err(errors), _, _) => errors.iter().map(syn::Error::to_compile_error).collect(),
        (Ok(()), _, _) => {
            syn::Error::new_spanned(&schedule.name, "fasterai-macros bug: the schedule was rejected without an error")
                .to_compile_error()
        }
    }
}
