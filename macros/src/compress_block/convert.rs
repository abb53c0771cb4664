//! `NewName::from_source(&Model, &PrunePlan)`, generated for schedules whose only structural
//! stage is `prune`: copies the kept filters, the BatchNorm entries after them and the consumers'
//! inputs (in `H×W` groups after a Flatten) with `fasterai::compress::prune`'s functions. The
//! target field types fix every size, so rustc checks each copy's shape. The type also implements
//! `FromPrunePlan<Model>` with that `from_source`, for generic code (`plan.convert::<Name, _>(&model)`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};

use super::nested;
use crate::ir::groups::channel_groups;
use crate::ir::{Group, LayerKind, Model};

/// The conversion, or nothing when the schedule folds or factorizes (the layer lists differ) or
/// prunes an `UnbiasedLinear` (no out-selection for it yet). Every prunable channel group keeps one
/// list of channels: a group several layers write through skip connections reads it from the plan
/// once all its members were checked to agree (`PrunePlan::check_groups`).
pub fn from_source(name: &syn::Ident, model: &syn::Path, source: &Model, target: &Model) -> TokenStream {
    let same_layers = source.layers.len() == target.layers.len()
        && source.layers.iter().zip(&target.layers).all(|(a, b)| a.name == b.name);
    let Some(shapes) = source.shapes() else { return TokenStream::new() };
    if !same_layers {
        return TokenStream::new();
    }
    let groups: Vec<Group> = channel_groups(&source.layers, &shapes).into_iter().filter(|g| g.prunable).collect();
    let p = quote!(::fasterai::__private);
    let kept_var = |g: usize| format_ident!("__kept_group{}", g);
    let mut kept_lets = Vec::new();
    let mut widths = Vec::new();
    let mut coupled = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let names: Vec<&str> = group.producers.iter().map(|&i| source.layers[i].name.as_str()).collect();
        for &producer in &group.producers {
            let (Some(width), Some(new_width)) = (out_width(&source.layers[producer].kind), out_width(&target.layers[producer].kind)) else {
                return TokenStream::new();
            };
            let name_str = &source.layers[producer].name;
            widths.push(quote!((#name_str, #width, #new_width)));
        }
        let (first, width) = (names[0], group.channels);
        let var = kept_var(g);
        kept_lets.push(quote!(let #var = __kept(#first, #width);));
        if names.len() > 1 {
            coupled.push(quote!(&[#(#names),*]));
        }
    }
    let mut builds = Vec::new();
    for (index, layer) in source.layers.iter().enumerate() {
        if layer.kind.is_residual_marker() {
            continue;
        }
        let (var, field) = (nested::var(&layer.name), nested::access(&layer.name));
        let name_str = &layer.name;
        let out = groups.iter().position(|g| g.producers.contains(&index)).map(kept_var);
        let input = groups.iter().enumerate().find_map(|(g, group)| {
            group.consumers.iter().find(|(consumer, _)| *consumer == index).map(|&(_, span)| (kept_var(g), span))
        });
        let bn_of = groups.iter().position(|g| g.batch_norms.contains(&index)).map(kept_var);
        let build = match layer.kind {
            LayerKind::Conv2D { bias, .. } => {
                let select_out = match (&out, bias) {
                    (Some(kept), true) => {
                        quote!(let (w, b) = #p::select_conv_out(#name_str, &__source.#field.weight, &__source.#field.bias, &#kept)?;)
                    }
                    (None, true) => quote!(let (w, b) = (__source.#field.weight.clone(), __source.#field.bias.clone());),
                    (Some(kept), false) => quote!(let w = #p::select_conv_weight_out(#name_str, &__source.#field.weight, &#kept)?;),
                    (None, false) => quote!(let w = __source.#field.weight.clone();),
                };
                let select_in = input.map(|(kept, _)| quote!(let w = #p::select_conv_in(#name_str, &w, &#kept)?;));
                let built = if bias {
                    quote!(::fasterai::prelude::Conv2D { weight: w, bias: b })
                } else {
                    quote!(::fasterai::prelude::UnbiasedConv2D { weight: w })
                };
                quote!({ #select_out #select_in #built })
            }
            LayerKind::Linear { bias: true, .. } => {
                let select_out = match &out {
                    Some(kept) => {
                        quote!(let (w, b) = #p::select_linear_out(#name_str, &__source.#field.weight, &__source.#field.bias, &#kept)?;)
                    }
                    None => quote!(let (w, b) = (__source.#field.weight.clone(), __source.#field.bias.clone());),
                };
                let select_in = input.map(|(kept, span)| quote!(let w = #p::select_linear_in(#name_str, &w, #span, &#kept)?;));
                quote!({ #select_out #select_in ::fasterai::prelude::Linear { weight: w, bias: b } })
            }
            LayerKind::Linear { bias: false, .. } if out.is_some() || input.is_some() => return TokenStream::new(),
            LayerKind::BatchNorm2D { .. } if bn_of.is_some() => {
                let kept = bn_of.expect("checked");
                quote!(#p::select_batchnorm2d(#name_str, &__source.#field, &#kept)?)
            }
            LayerKind::BatchNorm1D { .. } if bn_of.is_some() => {
                let kept = bn_of.expect("checked");
                quote!(#p::select_batchnorm1d(#name_str, &__source.#field, &#kept)?)
            }
            _ => quote!(::core::clone::Clone::clone(&__source.#field)),
        };
        builds.push(quote!(let #var = #build;));
    }
    let built = nested::construct(name, target, |layer| nested::var(&layer.name).into_token_stream());
    // Errors name the type the user declared, not a hidden step type (`__NameStep1` → `Name`).
    let name_str_type = name.to_string();
    let name_str_type = match name_str_type.strip_prefix("__").and_then(|s| s.rsplit_once("Step")) {
        Some((declared, _)) => declared.to_string(),
        None => name_str_type,
    };
    let doc = format!(
        "Builds `{name}` from a trained `{}`: each prunable layer keeps the output channels `plan` \
         lists for it (a layer the plan does not name keeps all of them), with the BatchNorm entries after \
         it and its consumer's inputs. Checks the plan first (`PrunePlan::check_conversion`): errors, \
         naming the layer, if the plan was made for another model (a recorded width differs), names a \
         layer the model does not have, omits a layer `{name}` narrows, or keeps another count than `{name}` declares.",
        super::parse::path_text(model)
    );
    quote! {
        impl #name {
            #[doc = #doc]
            pub fn from_source(__source: &#model, __plan: &#p::PrunePlan) -> ::core::result::Result<Self, #p::StructError> {
                let __kept = |layer: &str, width: usize| -> ::std::vec::Vec<usize> {
                    match __plan.kept(layer) {
                        ::core::option::Option::Some(kept) => kept.to_vec(),
                        ::core::option::Option::None => (0..width).collect(),
                    }
                };
                __plan.check_conversion(#name_str_type, &[#(#widths),*])?;
                __plan.check_groups(&[#(#coupled),*])?;
                #(#kept_lets)*
                #(#builds)*
                ::core::result::Result::Ok(#built)
            }
        }
        #[automatically_derived]
        impl #p::FromPrunePlan<#model> for #name {
            fn from_prune_plan(__source: &#model, __plan: &#p::PrunePlan) -> ::core::result::Result<Self, #p::StructError> {
                Self::from_source(__source, __plan)
            }
        }
    }
}

/// `NewName::from_source(&Model)` for schedules whose only structural stage is `fold()`: each
/// BatchNorm right after a convolution or linear layer is merged into it with
/// `fasterai::compress::fold` (W' = W·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε)+β).
pub fn fold_from_source(name: &syn::Ident, model: &syn::Path, source: &Model, target: &Model) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let mut builds = Vec::new();
    for (index, layer) in source.layers.iter().enumerate() {
        let is_bn = |kind: &LayerKind| matches!(kind, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. });
        if is_bn(&layer.kind) || layer.kind.is_residual_marker() {
            continue;
        }
        let (var, field) = (nested::var(&layer.name), nested::access(&layer.name));
        let name_str = &layer.name;
        let next_bn = source.layers.get(index + 1).filter(|next| is_bn(&next.kind)).map(|next| nested::access(&next.name));
        let build = match (layer.kind, next_bn) {
            (LayerKind::Conv2D { bias, .. }, Some(bn)) => {
                let old_bias = if bias { quote!(::core::option::Option::Some(&__source.#field.bias)) } else { quote!(::core::option::Option::None) };
                quote!({
                    let (w, b) = #p::fold_conv_bn(#name_str, &__source.#field.weight, #old_bias, &__source.#bn)?;
                    ::fasterai::prelude::Conv2D { weight: w, bias: b }
                })
            }
            (LayerKind::Linear { bias, .. }, Some(bn)) => {
                let old_bias = if bias { quote!(::core::option::Option::Some(&__source.#field.bias)) } else { quote!(::core::option::Option::None) };
                quote!({
                    let (w, b) = #p::fold_linear_bn(#name_str, &__source.#field.weight, #old_bias, &__source.#bn)?;
                    ::fasterai::prelude::Linear { weight: w, bias: b }
                })
            }
            _ => quote!(::core::clone::Clone::clone(&__source.#field)),
        };
        builds.push(quote!(let #var = #build;));
    }
    let doc = format!("Builds `{name}` from a trained `{}` by folding each BatchNorm into the layer before it (eval-mode statistics).", super::parse::path_text(model));
    plain_from_source(name, model, &doc, &builds, target)
}

/// `NewName::from_source(&Model)` for schedules whose only structural stage is `factorize`: each
/// factorized `Linear<I, O>` becomes `UnbiasedLinear<I, K>` (`<name>_in`) and `Linear<K, O>`
/// (`<name>_out`) through a truncated SVD (`fasterai::compress::factorize::factorize_linear`).
/// Nothing is generated when an `UnbiasedLinear` is factorized (no typed helper for it yet).
///
/// With `energy = Some(p)` the ranks of the type are maximum ranks: each SVD keeps the smallest
/// rank holding `p`% of `Σσ²` and zero-fills the rest (`factorize_linear_energy`).
pub fn factorize_from_source(
    name: &syn::Ident,
    model: &syn::Path,
    source: &Model,
    target: &Model,
    energy: Option<u32>,
) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let mut builds = Vec::new();
    for layer in source.layers.iter().filter(|l| !l.kind.is_residual_marker()) {
        let (var, field) = (nested::var(&layer.name), nested::access(&layer.name));
        let name_str = &layer.name;
        let split = target.layers.iter().any(|l| l.name == format!("{}_in", layer.name))
            && !target.layers.iter().any(|l| l.name == layer.name);
        if split {
            if !matches!(layer.kind, LayerKind::Linear { bias: true, .. }) {
                return TokenStream::new();
            }
            let (first, second) = (nested::var(&format!("{}_in", layer.name)), nested::var(&format!("{}_out", layer.name)));
            builds.push(match energy {
                None => quote!(let (#first, #second) = #p::factorize_linear(#name_str, &__source.#field)?;),
                Some(percent) => {
                    quote!(let (#first, #second, _) = #p::factorize_linear_energy(#name_str, &__source.#field, #percent)?;)
                }
            });
        } else {
            builds.push(quote!(let #var = ::core::clone::Clone::clone(&__source.#field);));
        }
    }
    let doc = format!("Builds `{name}` from a trained `{}` by a truncated SVD of each factorized linear layer.", super::parse::path_text(model));
    plain_from_source(name, model, &doc, &builds, target)
}

/// `impl name { pub fn from_source(&model) }` documented by `doc`: the `builds` bind a variable
/// per layer of `target` ([`nested::var`]) from `__source`, then the new model is made of them.
fn plain_from_source(name: &syn::Ident, model: &syn::Path, doc: &str, builds: &[TokenStream], target: &Model) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let built = nested::construct(name, target, |layer| nested::var(&layer.name).into_token_stream());
    quote! {
        impl #name {
            #[doc = #doc]
            pub fn from_source(__source: &#model) -> ::core::result::Result<Self, #p::StructError> {
                #(#builds)*
                ::core::result::Result::Ok(#built)
            }
        }
    }
}

fn out_width(kind: &LayerKind) -> Option<usize> {
    match *kind {
        LayerKind::Conv2D { out_channels, .. } => Some(out_channels),
        LayerKind::Linear { out_features, .. } => Some(out_features),
        _ => None,
    }
}
