//! The type a schedule produces: a struct whose field types carry the rewritten sizes, deriving
//! `Compressible`, so the derive checks every shape once more and generates its forward.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::check::Checked;
use super::parse::Schedule;
use super::nested::{self, Item};
use crate::ir::{Layer, LayerKind, Model, Shape};

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// The type a user would write for `kind`, through `::fasterai::prelude`.
pub fn layer_type(kind: &LayerKind) -> TokenStream {
    let name = format_ident!("{}", kind.type_name());
    let args: Vec<usize> = match *kind {
        LayerKind::Conv2D { in_channels, out_channels, kernel, stride, padding, .. } => {
            vec![in_channels, out_channels, kernel, stride, padding]
        }
        LayerKind::BatchNorm2D { channels } => vec![channels],
        LayerKind::BatchNorm1D { features } => vec![features],
        LayerKind::MaxPool2D(w) | LayerKind::AvgPool2D(w) => vec![w.kernel, w.stride, w.padding],
        LayerKind::AdaptiveAvgPool2D { out_h, out_w } => vec![out_h, out_w],
        LayerKind::Linear { in_features, out_features, .. } => vec![in_features, out_features],
        LayerKind::Activation(_) | LayerKind::GlobalAvgPool | LayerKind::Flatten | LayerKind::Dropout => vec![],
        LayerKind::Fork | LayerKind::Shortcut | LayerKind::Add { .. } => {
            unreachable!("residual markers are not fields: `nested::items` gathers the blocks")
        }
    };
    if args.is_empty() {
        quote!(::fasterai::prelude::#name)
    } else {
        let args = args.into_iter().map(lit);
        quote!(::fasterai::prelude::#name<#(#args),*>)
    }
}

pub fn generate(schedule: &Schedule, checked: &Checked) -> TokenStream {
    let Schedule { attrs, vis, name, model, .. } = schedule;
    let track = checked.plan_file.as_ref().map(|path| {
        let path = path.display().to_string();
        quote! {
            // Makes cargo rebuild when the plan file changes.
            const _: &[u8] = ::core::include_bytes!(#path);
        }
    });
    let item = struct_item(quote!(#(#attrs)*), vis, name, model, &checked.model);
    quote!(#item #track)
}

/// A struct deriving `Compressible` whose fields are `target`'s layers, documented as layers of
/// the compressed `model`; each residual block of `target` becomes a struct of its own (see
/// [`nested`]), defined before it.
pub fn struct_item(
    attrs: TokenStream,
    vis: &syn::Visibility,
    name: &syn::Ident,
    model: &syn::Path,
    target: &Model,
) -> TokenStream {
    let dims = match target.input {
        Shape::Chw { c, h, w } => vec![lit(c), lit(h), lit(w)],
        Shape::Flat { n } => vec![lit(n)],
    };
    let model_text = super::parse::path_text(model);
    let field = |layer: &Layer, ident: &str, shortcut: bool| {
        let field = format_ident!("{}", ident);
        let ty = layer_type(&layer.kind);
        let doc = format!("Layer `{}` of the compressed `{model_text}`.", layer.name);
        let tap = layer.tapped.then(|| quote!(#[tap]));
        let shortcut = shortcut.then(|| quote!(#[shortcut]));
        quote!(#[doc = #doc] #tap #shortcut pub #field: #ty)
    };
    // The blocks of a hidden step type are hidden too.
    let hidden = name.to_string().starts_with("__").then(|| quote!(#[doc(hidden)]));
    let mut blocks = Vec::new();
    let fields: Vec<TokenStream> = nested::items(target)
        .into_iter()
        .map(|item| match item {
            Item::Layer(layer) => field(layer, &layer.name, false),
            Item::Blocks { field: ident, tuple, blocks: instances } => {
                let mut types = Vec::new();
                for block in &instances {
                    let ty = nested::block_type(name, &block.instance);
                    let inner = block.fields.iter().map(|(layer, inner, shortcut)| field(layer, inner, *shortcut));
                    let doc = format!("Residual block `{}` of the compressed `{model_text}`.", block.instance);
                    blocks.push(quote! {
                        #[doc = #doc]
                        #hidden
                        #[allow(non_camel_case_types)]
                        #[derive(::fasterai::prelude::Compressible, ::core::clone::Clone)]
                        #[compressible(residual)]
                        #vis struct #ty {
                            #(#inner,)*
                        }
                    });
                    types.push(ty);
                }
                let doc = format!("Residual blocks `{ident}` of the compressed `{model_text}`.");
                let ident = format_ident!("{}", ident);
                let ty = if tuple { quote!((#(#types,)*)) } else { quote!(#(#types)*) };
                quote!(#[doc = #doc] #[block] pub #ident: #ty)
            }
        })
        .collect();
    quote! {
        #(#blocks)*
        #attrs
        #[derive(::fasterai::prelude::Compressible, ::core::clone::Clone)]
        #[compressible(input = [#(#dims),*])]
        #vis struct #name {
            #(#fields,)*
        }
    }
}
