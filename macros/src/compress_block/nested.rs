//! The struct layout of a flattened model: which layers are fields of the model and which sit in
//! residual blocks (between the IR's `Fork` and `Add` markers), so the generated type nests its
//! blocks as the source did (`layer1: (Name_layer1_0, Name_layer1_1)`), and generated code reaches
//! a layer by its path (`__source.layer1.0.conv1`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Layer, LayerKind, Model};

/// One field of the model struct.
pub enum Item<'a> {
    /// A layer field.
    Layer(&'a Layer),
    /// A `#[block]` field: one block, or a tuple of them.
    Blocks { field: String, tuple: bool, blocks: Vec<Block<'a>> },
}

/// One residual block: its instance name (`layer1.0`, or `layer1` alone) and its fields.
pub struct Block<'a> {
    pub instance: String,
    /// Main-path layers, then shortcut layers (`true`), each with its name inside the block.
    pub fields: Vec<(&'a Layer, String, bool)>,
}

/// The model's fields, in order, with the layers of each block gathered.
pub fn items(model: &Model) -> Vec<Item<'_>> {
    let mut items: Vec<Item<'_>> = Vec::new();
    let mut open: Option<(Block<'_>, bool)> = None;
    for layer in &model.layers {
        match layer.kind {
            LayerKind::Fork => open = Some((Block { instance: layer.name.clone(), fields: Vec::new() }, false)),
            LayerKind::Shortcut => {
                if let Some((_, shortcut)) = open.as_mut() {
                    *shortcut = true;
                }
            }
            LayerKind::Add { .. } => {
                let Some((block, _)) = open.take() else { continue };
                let (field, tuple) = match block.instance.split_once('.') {
                    Some((field, _)) => (field.to_string(), true),
                    None => (block.instance.clone(), false),
                };
                match items.last_mut() {
                    Some(Item::Blocks { field: last, blocks, .. }) if *last == field && tuple => blocks.push(block),
                    _ => items.push(Item::Blocks { field, tuple, blocks: vec![block] }),
                }
            }
            _ => match open.as_mut() {
                Some((block, shortcut)) => {
                    let inner = layer.name.strip_prefix(&format!("{}.", block.instance)).unwrap_or(&layer.name).to_string();
                    block.fields.push((layer, inner, *shortcut));
                }
                None => items.push(Item::Layer(layer)),
            },
        }
    }
    items
}

/// The generated type of block `instance` of the compressed type `name`.
pub fn block_type(name: &syn::Ident, instance: &str) -> syn::Ident {
    format_ident!("{}_{}", name, instance.replace('.', "_"))
}

/// A layer's path from the model, as member tokens: `conv1`, `layer1.0.conv1`.
pub fn access(name: &str) -> TokenStream {
    let members = name.split('.').map(|segment| match segment.parse::<usize>() {
        Ok(index) => {
            let index = syn::Index::from(index);
            quote!(#index)
        }
        Err(_) => {
            let ident = format_ident!("{}", segment);
            quote!(#ident)
        }
    });
    quote!(#(#members).*)
}

/// A local variable for a layer's value: `layer1.0.conv1` becomes `__layer1_0_conv1`.
pub fn var(name: &str) -> syn::Ident {
    format_ident!("__{}", name.replace('.', "_"))
}

/// `Self { conv1: .., layer1: (Name_layer1_0 { conv1: .., .. }, ..), .. }` for `target` (the
/// layers of the type `name`), each layer's value given by `value`.
pub fn construct(name: &syn::Ident, target: &Model, value: impl Fn(&Layer) -> TokenStream) -> TokenStream {
    let fields = items(target).into_iter().map(|item| match item {
        Item::Layer(layer) => {
            let field = format_ident!("{}", layer.name);
            let value = value(layer);
            quote!(#field: #value)
        }
        Item::Blocks { field, tuple, blocks } => {
            let field = format_ident!("{}", field);
            let built: Vec<TokenStream> = blocks
                .iter()
                .map(|block| {
                    let ty = block_type(name, &block.instance);
                    let inner = block.fields.iter().map(|(layer, inner, _)| {
                        let inner = format_ident!("{}", inner);
                        let value = value(layer);
                        quote!(#inner: #value)
                    });
                    quote!(#ty { #(#inner),* })
                })
                .collect();
            if tuple {
                quote!(#field: (#(#built,)*))
            } else {
                quote!(#field: #(#built)*)
            }
        }
    });
    quote!(Self { #(#fields),* })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::model::tests::{block, conv, layer};
    use crate::ir::Shape;

    fn resnet_like() -> Model {
        let mut layers = vec![layer("conv1", conv(3, 8))];
        layers.extend(block("layer1.0", &[("conv1", conv(8, 8))], &[]));
        layers.extend(block("layer1.1", &[("conv1", conv(8, 8))], &[("down", conv(8, 8))]));
        layers.extend(block("last", &[("conv1", conv(8, 8))], &[]));
        layers.push(layer("gap", LayerKind::GlobalAvgPool));
        Model { input: Shape::Chw { c: 3, h: 8, w: 8 }, layers }
    }

    #[test]
    fn blocks_gather_under_their_field() {
        let model = resnet_like();
        let items = items(&model);
        assert_eq!(items.len(), 4, "conv1, layer1, last, gap");
        let Item::Blocks { field, tuple: true, blocks } = &items[1] else { panic!("layer1 is a tuple of blocks") };
        assert_eq!((field.as_str(), blocks.len()), ("layer1", 2));
        let names: Vec<(&str, bool)> = blocks[1].fields.iter().map(|(_, n, s)| (n.as_str(), *s)).collect();
        assert_eq!(names, [("conv1", false), ("down", true)]);
        assert!(matches!(&items[2], Item::Blocks { field, tuple: false, .. } if field == "last"));
    }

    #[test]
    fn paths_and_construction() {
        assert_eq!(access("layer1.0.conv1").to_string(), "layer1 . 0 . conv1");
        assert_eq!(var("layer1.0.conv1").to_string(), "__layer1_0_conv1");
        let name = format_ident!("Small");
        let built = construct(&name, &resnet_like(), |l| {
            let v = var(&l.name);
            quote!(#v)
        })
        .to_string();
        assert!(built.contains("layer1 : (Small_layer1_0 { conv1 : __layer1_0_conv1 } , Small_layer1_1 {"), "{built}");
        assert!(built.contains("last : Small_last { conv1 : __last_conv1 }"), "{built}");
    }
}
