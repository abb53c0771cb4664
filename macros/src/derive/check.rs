//! Runs the shape walk of the IR over the parsed struct and reports every mistake on the token it
//! concerns. A `#[block]` field is flattened into its blocks' layers between residual markers
//! (`Fork`, `Shortcut`, `Add`), each layer keeping the path from `self` that reaches it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::spanned::Spanned;

use super::ast::{Container, Field};
use super::block::Blocks;
use crate::ctxt::Ctxt;
use crate::ir::layer::{Blame, ShapeError};
use crate::ir::{Coupling, Group, Layer, LayerKind, Model, Shape, Step};

/// A model whose every layer fits the next: what expansion needs.
pub struct Checked {
    pub model: Model,
    /// What reaches each layer of `model.layers`, in the same order.
    pub slots: Vec<Slot>,
    /// Each layer's (input, output).
    pub shapes: Vec<(Shape, Shape)>,
    pub couplings: Vec<Coupling>,
    /// The channel groups (see [`crate::ir::groups`]).
    pub groups: Vec<Group>,
}

/// How the generated code reaches one layer of the flattened model.
pub struct Slot {
    /// The member path after `self.`: `conv1`, or `layer1.0.conv1` inside a block of a tuple.
    pub access: TokenStream,
    /// The span errors and trait calls point at: the field's type (for a residual marker, the
    /// block's type where the model uses it).
    pub span: Span,
    /// The type's tokens, for errors that cover all of it.
    pub ty: TokenStream,
    /// The spans of the layer type's arguments, for errors about one of them.
    pub arg_spans: Vec<Span>,
    /// The block instance the layer belongs to (`layer2.0`) and its type, for messages.
    pub block: Option<(String, String)>,
    /// The prefix of the layer's tensors in a PyTorch `state_dict` (`features.0`,
    /// `layer1.0.downsample.0`): the `#[torch]` names, or the field names, along the path.
    pub torch: String,
}

impl Slot {
    /// The identifier of a tap of this layer (`layer1.0.conv2` becomes `layer1_0_conv2`).
    pub fn tap_ident(name: &str) -> syn::Ident {
        format_ident!("{}", name.replace(['.', ':'], "_"))
    }
}

fn field_slot(field: &Field, prefix: &TokenStream, block: Option<(String, String)>, torch: String) -> Slot {
    let member = field.ident;
    Slot {
        torch,
        access: quote!(#prefix #member),
        span: field.ty.span(),
        ty: field.ty.to_token_stream(),
        arg_spans: field.layer.as_ref().map(|layer| layer.arg_spans.clone()).unwrap_or_default(),
        block,
    }
}

/// The layers and slots of `container`, with every `#[block]` field flattened. `None` if a field
/// was not read (already reported).
fn flatten(cx: &Ctxt, container: &Container, blocks: &Blocks) -> Option<(Vec<Layer>, Vec<Slot>)> {
    let mut layers = Vec::new();
    let mut slots = Vec::new();
    let mut complete = true;
    for field in &container.fields {
        let Some(types) = &field.blocks else {
            match &field.layer {
                Some(parsed) => {
                    layers.push(Layer { name: field.name.clone(), kind: parsed.kind, tapped: field.tapped });
                    slots.push(field_slot(field, &TokenStream::new(), None, field.torch_name().to_string()));
                }
                None => complete = false,
            }
            continue;
        };
        if field.tapped {
            cx.error_spanned_by(
                field.ident,
                "#[tap] goes on a layer inside a residual block (on the block struct's field), not on a `#[block]` field",
            );
        }
        let tuple = types.len() > 1 || matches!(field.ty, syn::Type::Tuple(_));
        for (index, ty) in types.iter().enumerate() {
            let member = field.ident;
            let (instance, access, torch) = if tuple {
                let index_token = syn::Index::from(index);
                (format!("{}.{index}", field.name), quote!(#member.#index_token), format!("{}.{index}", field.torch_name()))
            } else {
                (field.name.clone(), quote!(#member), field.torch_name().to_string())
            };
            let Some(block) = blocks.get(ty) else {
                complete = false;
                continue;
            };
            let type_name = block.ident.to_string();
            let marker = |layers: &mut Vec<Layer>, slots: &mut Vec<Slot>, name: String, kind| {
                layers.push(Layer { name, kind, tapped: false });
                slots.push(Slot {
                    access: access.clone(),
                    span: ty.span(),
                    ty: ty.to_token_stream(),
                    arg_spans: Vec::new(),
                    block: Some((instance.clone(), type_name.clone())),
                    torch: torch.clone(),
                });
            };
            marker(&mut layers, &mut slots, instance.clone(), LayerKind::Fork);
            let prefix = quote!(#access .);
            let main = block.fields.iter().filter(|f| !f.shortcut);
            let shortcut: Vec<&Field> = block.fields.iter().filter(|f| f.shortcut).collect();
            for (path, inner) in main.map(|f| (false, f)).chain(shortcut.iter().map(|f| (true, *f))) {
                if path && std::ptr::eq(inner, shortcut[0]) {
                    marker(&mut layers, &mut slots, format!("{instance}:shortcut"), LayerKind::Shortcut);
                }
                let Some(parsed) = &inner.layer else {
                    complete = false;
                    continue;
                };
                layers.push(Layer { name: format!("{instance}.{}", inner.name), kind: parsed.kind, tapped: inner.tapped });
                let inner_torch = format!("{torch}.{}", inner.torch_name());
                slots.push(field_slot(inner, &prefix, Some((instance.clone(), type_name.clone())), inner_torch));
            }
            marker(&mut layers, &mut slots, format!("{instance}:add"), LayerKind::Add { relu: true });
        }
    }
    complete.then_some((layers, slots))
}

/// Builds the IR and checks it. Returns `None` (with every mistake reported) unless the input
/// shape and all field types were read and every layer checks.
pub fn check(cx: &Ctxt, container: &Container, blocks: &Blocks) -> Option<Checked> {
    check_torch_names(cx, container);
    let (layers, slots) = flatten(cx, container, blocks)?;
    let input = container.input.as_ref()?.shape;
    let model = Model { input, layers };
    let mut shapes = Vec::with_capacity(model.layers.len());
    for (step, slot) in model.infer().into_iter().zip(&slots) {
        match step {
            Step::Checked { input, output } => shapes.push((input, output)),
            Step::Failed(error) => report(cx, slot, &error),
            Step::Unchecked => {}
        }
    }
    if shapes.len() != model.layers.len() {
        return None;
    }
    let couplings = model.couplings()?;
    let groups = crate::ir::groups::channel_groups(&model.layers, &shapes);
    Some(Checked { model, slots, shapes, couplings, groups })
}

/// One shape mistake, on the argument or type it concerns; inside a block, the message says which
/// use of the block it is.
fn report(cx: &Ctxt, slot: &Slot, error: &ShapeError) {
    let message = match (&slot.block, error) {
        (Some((instance, block)), ShapeError::ResidualMismatch(_)) => format!("{error} (`{instance}` is a `{block}`)"),
        (Some((instance, block)), _) => format!("in residual block `{instance}` (a `{block}`): {error}"),
        (None, _) => error.to_string(),
    };
    match error.blame() {
        Blame::Arg(index) if index < slot.arg_spans.len() => cx.error_at(slot.arg_spans[index], message),
        _ => cx.error_spanned_by(&slot.ty, message),
    }
}

/// `#[torch]` names: only on fields with tensors (or holding blocks), and no two fields of the
/// struct loading the same PyTorch tensors (a `#[torch]` name may not repeat another field's
/// name either, given or its own).
pub fn check_torch_names(cx: &Ctxt, container: &Container) {
    let mut seen: Vec<(String, &Field)> = Vec::new();
    for field in &container.fields {
        if let (Some(torch), Some(layer)) = (&field.torch, &field.layer) {
            if !layer.kind.has_tensors() {
                cx.error_at(
                    torch.span,
                    format!(
                        "`{}` has no tensors, so it has no PyTorch name; remove #[torch] (only Conv2D, Linear and \
                         BatchNorm fields, and #[block] fields, load tensors)",
                        field.name
                    ),
                );
                continue;
            }
        }
        let prefixes: Vec<String> = match (&field.blocks, &field.layer) {
            (Some(types), _) if types.len() > 1 || matches!(field.ty, syn::Type::Tuple(_)) => {
                (0..types.len()).map(|index| format!("{}.{index}", field.torch_name())).collect()
            }
            (Some(_), _) => vec![field.torch_name().to_string()],
            (None, Some(layer)) if layer.kind.has_tensors() => vec![field.torch_name().to_string()],
            (None, _) => Vec::new(),
        };
        for prefix in prefixes {
            if let Some((_, other)) = seen.iter().find(|(name, _)| *name == prefix) {
                let message = format!(
                    "`{}` and `{}` would both load the PyTorch tensors `{prefix}.*`; give each field its own #[torch] name",
                    other.name, field.name
                );
                match &field.torch {
                    Some(torch) => cx.error_at(torch.span, message),
                    None => cx.error_spanned_by(field.ident, message),
                }
            } else {
                seen.push((prefix, field));
            }
        }
    }
}
