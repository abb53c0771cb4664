//! `NewName::from_source(&Model, &PrunePlan)`, generated for schedules whose only structural
//! stage is `prune`: copies the kept filters, the BatchNorm entries after them and the consumers'
//! inputs (in `H×W` groups after a Flatten) with `fasterai::compress::prune`'s functions. The
//! target field types fix every size, so rustc checks each copy's shape. The type also implements
//! `FromPrunePlan<Model>` with that `from_source`, for generic code (`plan.convert::<Name, _>(&model)`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{LayerKind, Model};

/// The conversion, or nothing when the schedule folds or factorizes (the layer lists differ) or
/// prunes an `UnbiasedLinear` (no out-selection for it yet).
pub fn from_source(name: &syn::Ident, model: &syn::Path, source: &Model, target: &Model) -> TokenStream {
    let same_layers = source.layers.len() == target.layers.len()
        && source.layers.iter().zip(&target.layers).all(|(a, b)| a.name == b.name);
    let Some(couplings) = source.couplings() else { return TokenStream::new() };
    if !same_layers {
        return TokenStream::new();
    }
    let p = quote!(::fasterai::__private);
    let mut kept_lets = Vec::new();
    let mut widths = Vec::new();
    let mut fields = Vec::new();
    let mut builds = Vec::new();
    for (index, layer) in source.layers.iter().enumerate() {
        let field = format_ident!("{}", layer.name);
        let name_str = &layer.name;
        let kept_var = |producer: usize| format_ident!("__kept_{}", source.layers[producer].name);
        let out = couplings.iter().find(|c| c.producer == index);
        let input = couplings.iter().find(|c| c.consumer == index);
        let bn_of = couplings.iter().find(|c| c.batch_norm == Some(index));
        if out.is_some() {
            let var = kept_var(index);
            let width = match layer.kind {
                LayerKind::Conv2D { out_channels, .. } => out_channels,
                LayerKind::Linear { out_features, .. } => out_features,
                _ => return TokenStream::new(),
            };
            let new_width = match target.layers[index].kind {
                LayerKind::Conv2D { out_channels, .. } => out_channels,
                LayerKind::Linear { out_features, .. } => out_features,
                _ => return TokenStream::new(),
            };
            widths.push(quote!((#name_str, #width, #new_width)));
            kept_lets.push(quote!(let #var = __kept(#name_str, #width);));
        }
        let build = match layer.kind {
            LayerKind::Conv2D { bias, .. } => {
                let select_out = match (out, bias) {
                    (Some(_), true) => {
                        let var = kept_var(index);
                        quote!(let (w, b) = #p::select_conv_out(#name_str, &__source.#field.weight, &__source.#field.bias, &#var)?;)
                    }
                    (None, true) => quote!(let (w, b) = (__source.#field.weight.clone(), __source.#field.bias.clone());),
                    (Some(_), false) => {
                        let var = kept_var(index);
                        quote!(let w = #p::select_conv_weight_out(#name_str, &__source.#field.weight, &#var)?;)
                    }
                    (None, false) => quote!(let w = __source.#field.weight.clone();),
                };
                let select_in = input.map(|c| {
                    let var = kept_var(c.producer);
                    quote!(let w = #p::select_conv_in(#name_str, &w, &#var)?;)
                });
                let built = if bias {
                    quote!(::fasterai::prelude::Conv2D { weight: w, bias: b })
                } else {
                    quote!(::fasterai::prelude::UnbiasedConv2D { weight: w })
                };
                quote!({ #select_out #select_in #built })
            }
            LayerKind::Linear { bias: true, .. } => {
                let select_out = match out {
                    Some(_) => {
                        let var = kept_var(index);
                        quote!(let (w, b) = #p::select_linear_out(#name_str, &__source.#field.weight, &__source.#field.bias, &#var)?;)
                    }
                    None => quote!(let (w, b) = (__source.#field.weight.clone(), __source.#field.bias.clone());),
                };
                let select_in = input.map(|c| {
                    let var = kept_var(c.producer);
                    let group = c.group;
                    quote!(let w = #p::select_linear_in(#name_str, &w, #group, &#var)?;)
                });
                quote!({ #select_out #select_in ::fasterai::prelude::Linear { weight: w, bias: b } })
            }
            LayerKind::Linear { bias: false, .. } if out.is_some() || input.is_some() => return TokenStream::new(),
            LayerKind::BatchNorm2D { .. } if bn_of.is_some() => {
                let var = kept_var(bn_of.expect("checked").producer);
                quote!(#p::select_batchnorm2d(#name_str, &__source.#field, &#var)?)
            }
            LayerKind::BatchNorm1D { .. } if bn_of.is_some() => {
                let var = kept_var(bn_of.expect("checked").producer);
                quote!(#p::select_batchnorm1d(#name_str, &__source.#field, &#var)?)
            }
            _ => quote!(::core::clone::Clone::clone(&__source.#field)),
        };
        builds.push(quote!(let #field = #build;));
        fields.push(field);
    }
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
                #(#kept_lets)*
                #(#builds)*
                ::core::result::Result::Ok(Self { #(#fields),* })
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
pub fn fold_from_source(name: &syn::Ident, model: &syn::Path, source: &Model) -> TokenStream {
    let p = quote!(::fasterai::__private);
    let mut fields = Vec::new();
    let mut builds = Vec::new();
    for (index, layer) in source.layers.iter().enumerate() {
        let is_bn = |kind: &LayerKind| matches!(kind, LayerKind::BatchNorm2D { .. } | LayerKind::BatchNorm1D { .. });
        if is_bn(&layer.kind) {
            continue;
        }
        let field = format_ident!("{}", layer.name);
        let name_str = &layer.name;
        let next_bn = source.layers.get(index + 1).filter(|next| is_bn(&next.kind)).map(|next| format_ident!("{}", next.name));
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
        builds.push(quote!(let #field = #build;));
        fields.push(field);
    }
    let doc = format!("Builds `{name}` from a trained `{}` by folding each BatchNorm into the layer before it (eval-mode statistics).", super::parse::path_text(model));
    plain_from_source(name, model, &doc, &builds, &fields)
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
    let mut fields = Vec::new();
    let mut builds = Vec::new();
    for layer in &source.layers {
        let field = format_ident!("{}", layer.name);
        let name_str = &layer.name;
        let split = target.layers.iter().any(|l| l.name == format!("{}_in", layer.name))
            && !target.layers.iter().any(|l| l.name == layer.name);
        if split {
            if !matches!(layer.kind, LayerKind::Linear { bias: true, .. }) {
                return TokenStream::new();
            }
            let (first, second) = (format_ident!("{}_in", layer.name), format_ident!("{}_out", layer.name));
            builds.push(match energy {
                None => quote!(let (#first, #second) = #p::factorize_linear(#name_str, &__source.#field)?;),
                Some(percent) => {
                    quote!(let (#first, #second, _) = #p::factorize_linear_energy(#name_str, &__source.#field, #percent)?;)
                }
            });
            fields.push(first);
            fields.push(second);
        } else {
            builds.push(quote!(let #field = ::core::clone::Clone::clone(&__source.#field);));
            fields.push(field);
        }
    }
    let doc = format!("Builds `{name}` from a trained `{}` by a truncated SVD of each factorized linear layer.", super::parse::path_text(model));
    plain_from_source(name, model, &doc, &builds, &fields)
}

/// `impl name { pub fn from_source(&model) }` documented by `doc`: the `builds` bind each of the
/// `fields` from `__source`, then the new model is made of them (fold's and factorize's shape).
fn plain_from_source(name: &syn::Ident, model: &syn::Path, doc: &str, builds: &[TokenStream], fields: &[syn::Ident]) -> TokenStream {
    let p = quote!(::fasterai::__private);
    quote! {
        impl #name {
            #[doc = #doc]
            pub fn from_source(__source: &#model) -> ::core::result::Result<Self, #p::StructError> {
                #(#builds)*
                ::core::result::Result::Ok(Self { #(#fields),* })
            }
        }
    }
}
