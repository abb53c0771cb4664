//! `NewName::STAGES` and `NewName::compress(source, [teacher,] data, output)`: the whole block run
//! in order by `fasterai::runner::Runner` — training stages through the Learner,
//! structural stages through the generated conversions, each followed by a measurement.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::check::Checked;
use super::parse::{Arg, Schedule, Value};
use crate::ir::{model::Step, Model, Shape};

fn value_tokens(value: &Value) -> TokenStream {
    let p = quote!(::fasterai::__private);
    match value {
        Value::Percent { value, .. } => {
            let v = Literal::f64_unsuffixed(*value);
            quote!(#p::ArgValue::Percent(#v))
        }
        Value::Number { value, .. } => {
            let v = Literal::f64_unsuffixed(*value);
            quote!(#p::ArgValue::Number(#v))
        }
        Value::Str(lit) => quote!(#p::ArgValue::Str(#lit)),
        Value::Call { name, args: None } => {
            let name = name.to_string();
            quote!(#p::ArgValue::Word(#name))
        }
        Value::Call { name, args: Some(args) } => {
            let name = name.to_string();
            let args = args.iter().filter_map(arg_tokens);
            quote!(#p::ArgValue::Call(#name, &[#(#args),*]))
        }
    }
}

/// `StageArg { .. }` for one argument; `teacher: Type` becomes a parameter instead.
fn arg_tokens(arg: &Arg) -> Option<TokenStream> {
    let p = quote!(::fasterai::__private);
    match arg {
        Arg::Positional(value) => {
            let value = value_tokens(value);
            Some(quote!(#p::StageArg { key: ::core::option::Option::None, value: #value }))
        }
        Arg::Named { key, value } => {
            let key = key.to_string();
            let value = value_tokens(value);
            Some(quote!(#p::StageArg { key: ::core::option::Option::Some(#key), value: #value }))
        }
        Arg::Typed { .. } => None,
    }
}

/// The batch type the source model takes: `(usize, Const<C>, Const<H>, Const<W>)` or `(usize, Const<N>)`.
fn batch_type(shape: Shape) -> TokenStream {
    let p = quote!(::fasterai::__private);
    match shape {
        Shape::Chw { c, h, w } => quote!((usize, #p::Const<#c>, #p::Const<#h>, #p::Const<#w>)),
        Shape::Flat { n } => quote!((usize, #p::Const<#n>)),
    }
}

/// Whether a `distill` stage's `loss = ...` is a feature loss (run with the models' taps).
pub fn has_feature_loss(args: &[Arg]) -> bool {
    args.iter().any(|arg| match arg {
        Arg::Named { key, value: Value::Call { name, .. } } => {
            key == "loss"
                && fasterai_vocab::loss(&name.to_string())
                    .is_some_and(|loss| loss.compares == fasterai_vocab::Compares::Features)
        }
        _ => false,
    })
}

/// The model's logits count, or `None` when it does not end in a vector.
fn classes(model: &Model) -> Option<usize> {
    match model.infer().last()? {
        Step::Checked { output: Shape::Flat { n }, .. } => Some(*n),
        _ => None,
    }
}

/// The `STAGES` constant and the `compress` method, or nothing when the model does not end in a
/// vector of logits (the Learner trains classifiers) or a structural stage has no conversion.
pub fn compress_method(schedule: &Schedule, source: &Model, checked: &Checked, has_conversion: bool) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let Schedule { name, model, stages, .. } = schedule;
    let specs = stages.iter().map(|stage| {
        let stage_name = stage.name.to_string();
        let args = stage.args.iter().filter_map(arg_tokens);
        quote!(#p::StageSpec { name: #stage_name, args: &[#(#args),*] })
    });
    let stages_const = quote! {
        /// The stages of this `compress!` block as written, in order (see `fasterai::runner`).
        pub const STAGES: &'static [#p::StageSpec] = &[#(#specs),*];
    };
    let Some(k) = classes(source) else { return quote!(impl #name { #stages_const }) };
    if !has_conversion && !checked.steps.is_empty() {
        return quote!(impl #name { #stages_const });
    }
    let x = batch_type(source.input);
    let teacher = stages.iter().flat_map(|s| &s.args).find_map(|arg| match arg {
        Arg::Typed { key, ty } if key == "teacher" => Some(ty.clone()),
        _ => None,
    });
    let teacher_param = teacher.as_ref().map(|ty| quote!(teacher: &#ty,));

    // The type after each structural stage: `Name` itself for one stage, hidden ones for several.
    let step_types: Vec<syn::Ident> = match checked.steps.len() {
        1 => vec![name.clone()],
        n => (1..=n).map(|i| format_ident!("__{}Step{}", name, i)).collect(),
    };
    let into_final = |from: TokenStream| {
        let built = super::nested::construct(name, &checked.model, |layer| {
            let field = super::nested::access(&layer.name);
            quote!(#from.#field)
        });
        // Inside `impl #name`, so the construction's `Self` is the new type.
        quote!(let __model = #built;)
    };

    let mut body = Vec::new();
    let mut current = quote!(#model);
    let mut structural_done = 0;
    if checked.steps.is_empty() {
        body.push(into_final(quote!(__model)));
        current = quote!(#name);
    }
    for (i, stage) in stages.iter().enumerate() {
        let stage_name = stage.name.to_string();
        let call = match stage_name.as_str() {
            "distill" => {
                let ty = teacher.as_ref().expect("checked: distill has a teacher");
                if has_feature_loss(&stage.args) {
                    quote!(let __model = __runner.distill_features::<#current, #ty, #x, #k>(__model, teacher, &__stages[#i])?;)
                } else {
                    quote!(let __model = __runner.distill::<#current, #ty, #x, #k>(__model, teacher, &__stages[#i])?;)
                }
            }
            "sparsify" => quote!(let __model = __runner.sparsify::<#current, #x, #k>(__model, &__stages[#i])?;),
            "quantize" => quote! {
                let (__model, __quantized) = __runner.quantize::<#current, #x, #k>(__model, &__stages[#i])?;
                __int8 = ::core::option::Option::Some(__quantized);
            },
            "prune" | "fold" | "factorize" => {
                let next = &step_types[structural_done];
                structural_done += 1;
                let convert = if stage_name == "prune" {
                    quote!(let __plan = __runner.prune_plan::<#current, #next>(&__model, &__stages[#i])?;
                           let __model = #next::from_source(&__model, &__plan)?;)
                } else {
                    quote!(let __model = #next::from_source(&__model)?;)
                };
                current = quote!(#next);
                let finish = (structural_done == checked.steps.len() && checked.steps.len() > 1).then(|| {
                    let moved = into_final(quote!(__model));
                    quote!(#moved)
                });
                if finish.is_some() {
                    current = quote!(#name);
                }
                let tune_type = &step_types[structural_done - 1];
                quote! {
                    #convert
                    let __model = __runner.after_structural::<#tune_type, #x, #k>(#stage_name, __model, &__stages[#i])?;
                    #finish
                }
            }
            _ => TokenStream::new(),
        };
        body.push(call);
    }
    let doc = format!(
        "Runs this block on a trained `{}`: every stage in order ({}), training through the \
         Learner on `data` with the epochs and learning rates written in the block, measuring \
         parameters, size, latency and accuracy after each stage. Every stage's settings are checked \
         before the first epoch. Returns the final model (its int8 form when the block quantizes) and \
         the report.",
        super::parse::path_text(model),
        stages.iter().map(|s| s.name.to_string()).collect::<Vec<_>>().join(" → ")
    );
    quote! {
        impl #name {
            #stages_const

            #[doc = #doc]
            pub fn compress(
                source: #model,
                #teacher_param
                data: impl ::core::convert::Into<::std::sync::Arc<#p::DataLoaders>>,
                output: #p::Output,
            ) -> ::core::result::Result<#p::Compressed<#name>, #p::Error> {
                let __stages = #p::parse_stages(Self::STAGES)?;
                let mut __runner = #p::Runner::new(::core::stringify!(#name), data, output);
                let __model = __runner.measure::<#model, #x, #k>("source", source)?;
                #[allow(unused_mut)]
                let mut __int8 = ::core::option::Option::None;
                #(#body)*
                ::core::result::Result::Ok(__runner.finish(__model, __int8))
            }
        }
    }
}
