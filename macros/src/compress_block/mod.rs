//! `compress!`: a block of compression stages applied to a model, producing a new type.
//!
//! A proc macro sees only its own tokens, not the fields of the model it names. So
//! `#[derive(Compressible)]` also defines a hidden `macro_rules! __fasterai_model_<Model>` that
//! carries the model's struct (its `input` attribute, field names, `#[tap]`s and layer types) as
//! tokens, and re-exports it with `pub(crate) use .. as <Model>;` under the model's own name, in
//! the macro namespace only. `compress!` checks the block's syntax, then expands to `<path>! {..}`
//! with the model's path as written, which calls [`compress_with_model`] with the struct and the
//! block: the callback pattern. Wherever the model's type can be named (same module before or
//! after it, by path, through a `use`), so can its macro; and a wrong name reads as "cannot find
//! macro `Mlpp`", next to our own message from [`model_check`].

mod check;
mod convert;
mod generate;
mod nested;
mod parse;
mod plan_file;
mod runner;
mod stub;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{braced, DeriveInput};

use crate::ctxt::Ctxt;
use crate::derive::model_of;
use check::{Checked, StructuralStep};
use parse::Schedule;
use crate::ir::Model;

/// The name of the hidden macro the derive defines for `model` (re-exported as `model` itself).
pub fn model_macro(model: &syn::Ident) -> syn::Ident {
    format_ident!("__fasterai_model_{}", model, span = model.span())
}

/// `compress! { ... }`: checks the syntax, then calls the model's macro with the whole block.
pub fn compress(input: TokenStream) -> TokenStream {
    let schedule: Schedule = match syn::parse2(input.clone()) {
        Ok(schedule) => schedule,
        Err(error) => return error.to_compile_error(),
    };
    let model = &schedule.model;
    let model_name = parse::model_ident(model);
    if schedule.name == *model_name {
        // No stub: it would clash with the model itself.
        return syn::Error::new(
            schedule.name.span(),
            format!(
                "the compressed type needs a name of its own: `{name}` is the model's; write e.g. `{vis}Small{name} = {model} {{ .. }}`",
                name = schedule.name,
                vis = vis_text(&schedule.vis),
                model = parse::path_text(model),
            ),
        )
        .to_compile_error();
    }
    let check = model_check(model);
    quote!(#check #model! { #input })
}

fn vis_text(vis: &syn::Visibility) -> String {
    match vis {
        syn::Visibility::Inherited => String::new(),
        other => format!("{} ", quote!(#other).to_string().replace(" (", "(")),
    }
}

/// An assertion that `model` derives `Compressible`: when the callback macro cannot be found,
/// rustc then also says what the model lacks (the trait's `on_unimplemented` message), or that the
/// type does not exist, on the user's token.
fn model_check(model: &syn::Path) -> TokenStream {
    let span = syn::spanned::Spanned::span(model);
    let p = quote_spanned!(span=> ::fasterai::__private);
    quote_spanned! {span=>
        const _: () = {
            fn __check(__model: &#model) {
                #p::assert_model(__model)
            }
        };
    }
}

/// `{ struct } { blocks } schedule`, as the model's macro passes them (each block as `{ type }
/// { struct }`); `{ }` for the struct when the model's derive failed (its errors are reported
/// there) and only a stub of the new type is wanted.
struct WithModel {
    item: Option<DeriveInput>,
    blocks: Vec<(syn::Type, DeriveInput)>,
    schedule: Schedule,
}

impl Parse for WithModel {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        braced!(content in input);
        let item = if content.is_empty() { None } else { Some(content.parse()?) };
        let blocks;
        braced!(blocks in input);
        let blocks = crate::derive::parse_carried(blocks.parse()?)?;
        Ok(WithModel { item, blocks, schedule: input.parse()? })
    }
}

/// The second step: the model's layers are known, so every stage is checked and the new type
/// generated. On any mistake, the errors and a stub of the new type (see [`stub`]).
pub fn compress_with_model(input: TokenStream) -> TokenStream {
    let WithModel { item, blocks, schedule } = match syn::parse2(input) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    let Some(item) = item else { return stub::stub(&schedule) };
    let cx = Ctxt::new();
    let source = model_of(&cx, &item, &blocks);
    let checked = source.as_ref().and_then(|model| check::check(&cx, &schedule, model));
    match (cx.check(), checked, source) {
        (Ok(()), Some(checked), Some(source)) => {
            let generated = generate::generate(&schedule, &checked);
            let conversion = conversions(&schedule, &source, &checked);
            let method = runner::compress_method(&schedule, &source, &checked, !conversion.is_empty());
            quote!(#generated #conversion #method)
        }
        (Err(errors), _, _) => {
            let errors: TokenStream = errors.iter().map(syn::Error::to_compile_error).collect();
            let stub = stub::stub(&schedule);
            quote!(#errors #stub)
        }
        (Ok(()), _, _) => {
            let error = syn::Error::new_spanned(&schedule.name, "fasterai-macros bug: the schedule was rejected without an error")
                .to_compile_error();
            let stub = stub::stub(&schedule);
            quote!(#error #stub)
        }
    }
}

/// `name::from_source` for one structural stage applied to `source` (the type `model`).
fn step_conversion(step: &StructuralStep, name: &syn::Ident, model: &syn::Path, source: &Model) -> TokenStream {
    match step.stage.as_str() {
        "prune" => convert::from_source(name, model, source, &step.model),
        "fold" => convert::fold_from_source(name, model, source, &step.model),
        "factorize" => convert::factorize_from_source(name, model, source, &step.model, step.energy),
        _ => TokenStream::new(),
    }
}

/// The generated `from_source`. One structural stage converts directly. Several are chained
/// through hidden intermediate types, one per stage (`__<Name>Step1`, ...), each deriving
/// `Compressible` so rustc checks every intermediate shape too; `from_source` then runs the
/// stages in order. It takes the `PrunePlan` when the schedule prunes (and the type then implements
/// `FromPrunePlan<Model>` with it). Nothing is generated when
/// a stage has no conversion (see [`convert`]).
fn conversions(schedule: &Schedule, source: &Model, checked: &Checked) -> TokenStream {
    let Schedule { vis, name, model, .. } = schedule;
    match checked.steps.as_slice() {
        [] => TokenStream::new(),
        [step] => step_conversion(step, name, model, source),
        steps => {
            let p = quote!(::fasterai::__private);
            let mut items = Vec::new();
            let mut calls = Vec::new();
            let mut previous: (syn::Path, Model) = (model.clone(), source.clone());
            for (i, step) in steps.iter().enumerate() {
                let hidden = format_ident!("__{}Step{}", name, i + 1);
                let conversion = step_conversion(step, &hidden, &previous.0, &previous.1);
                if conversion.is_empty() {
                    return TokenStream::new();
                }
                let item = generate::struct_item(quote!(#[doc(hidden)]), vis, &hidden, model, &step.model);
                items.push(quote!(#item #conversion));
                let input = if i == 0 {
                    quote!(__source)
                } else {
                    let var = format_ident!("__step{}", i);
                    quote!(&#var)
                };
                let out = format_ident!("__step{}", i + 1);
                let plan = (step.stage == "prune").then(|| quote!(, __plan));
                calls.push(quote!(let #out = #hidden::from_source(#input #plan)?;));
                previous = (hidden.into(), step.model.clone());
            }
            let last = format_ident!("__step{}", steps.len());
            let built = nested::construct(name, &checked.model, |layer| {
                let field = nested::access(&layer.name);
                quote!(#last.#field)
            });
            let prunes = steps.iter().any(|s| s.stage == "prune");
            let signature = if prunes {
                quote!(__source: &#model, __plan: &#p::PrunePlan)
            } else {
                quote!(__source: &#model)
            };
            let stages: Vec<&str> = steps.iter().map(|s| s.stage.as_str()).collect();
            let doc = format!(
                "Builds `{name}` from a trained `{}` by running its structural stages in order ({}){}.",
                parse::path_text(model),
                stages.join(" → "),
                if prunes { ", pruning with the kept channels `plan` lists" } else { "" }
            );
            let from_plan = prunes.then(|| {
                quote! {
                    #[automatically_derived]
                    impl #p::FromPrunePlan<#model> for #name {
                        fn from_prune_plan(__source: &#model, __plan: &#p::PrunePlan) -> ::core::result::Result<Self, #p::StructError> {
                            Self::from_source(__source, __plan)
                        }
                    }
                }
            });
            quote! {
                #(#items)*
                impl #name {
                    #[doc = #doc]
                    pub fn from_source(#signature) -> ::core::result::Result<Self, #p::StructError> {
                        #(#calls)*
                        ::core::result::Result::Ok(#built)
                    }
                }
                #from_plan
            }
        }
    }
}
