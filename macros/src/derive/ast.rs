//! The derive input as an owned description: struct name, input shape, and one layer per field,
//! each keeping the tokens errors and generated code point at.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use super::attr::{self, Input, InputAttr, TorchAttr};
use super::layer_type::{self, ParsedLayer};
use crate::ctxt::Ctxt;

pub struct Container<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    /// `None` when missing or malformed (already reported), and for a residual block, whose input
    /// is the shape where it is used.
    pub input: Option<InputAttr>,
    /// `#[compressible(residual)]`: the struct is a residual block (see [`super::block`]).
    pub residual: bool,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    /// The name without `r#`, used for tensor keys and descriptions.
    pub name: String,
    pub ty: &'a Type,
    pub tapped: bool,
    /// `#[shortcut]`: in a residual block, the field runs on the block's input, not on the main path.
    pub shortcut: bool,
    /// `None` when the type is not a known layer (already reported), or for a `#[block]` field.
    pub layer: Option<ParsedLayer>,
    /// `#[block]`: the residual blocks the field holds, in order (one type, or a tuple's elements).
    pub blocks: Option<Vec<&'a Type>>,
    /// `#[torch = ".."]`: the prefix of the field's tensors in a PyTorch `state_dict`.
    pub torch: Option<TorchAttr>,
}

impl Field<'_> {
    /// The prefix of the field's tensors in a PyTorch `state_dict`: its `#[torch]` name, else its own.
    pub fn torch_name(&self) -> &str {
        self.torch.as_ref().map_or(&self.name, |torch| &torch.name)
    }
}

const SUPPORTED: &str = "#[derive(Compressible)] supports a struct with named fields, one layer per field, \
                         applied in order, without generic parameters";

impl<'a> Container<'a> {
    /// Reads the struct. Reports what is not supported and returns `None` if the shape of the item
    /// itself is wrong (enum, union, tuple or unit struct, generics); field and attribute mistakes
    /// are reported and the rest is still read.
    pub fn from_ast(cx: &Ctxt, item: &'a DeriveInput) -> Option<Container<'a>> {
        let named = match &item.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(fields) => {
                    cx.error_spanned_by(fields, format!("tuple structs are not supported: name every field. {SUPPORTED}"));
                    None
                }
                Fields::Unit => {
                    cx.error_spanned_by(&item.ident, format!("a unit struct has no layers. {SUPPORTED}"));
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(data.enum_token, format!("enums are not supported. {SUPPORTED}"));
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, format!("unions are not supported. {SUPPORTED}"));
                None
            }
        };
        if !item.generics.params.is_empty() {
            cx.error_spanned_by(
                &item.generics,
                format!(
                    "generic parameters are not supported: the layers are f32 on Cpu and every size \
                     must be a literal. {SUPPORTED}"
                ),
            );
        }
        let input = attr::container_input(cx, &item.attrs);
        let named = named?;
        if !item.generics.params.is_empty() {
            return None;
        }
        if named.named.is_empty() {
            cx.error_spanned_by(&item.ident, format!("the struct has no layers. {SUPPORTED}"));
        }
        let residual = attr::container_residual(&item.attrs);
        let input = match input {
            Input::Given(given) if residual.is_some() => {
                cx.error_at(
                    residual.expect("checked"),
                    "a residual block takes no `input`: its input is the shape where a `#[block]` field of a model \
                     uses it; remove `input = ..`",
                );
                let _ = given;
                None
            }
            Input::Given(given) => Some(given),
            Input::Invalid | Input::Missing if residual.is_some() => None,
            Input::Invalid => None,
            Input::Missing => {
                cx.error_spanned_by(
                &item.ident,
                "missing `#[compressible(input = [C, H, W])]` (or `[N]` for flat features): the \
                 derive needs the input shape to compute every layer's shape",
                );
                None
            }
        };
        let fields = named
            .named
            .iter()
            .map(|field| {
                let ident = field.ident.as_ref().expect("named field");
                let declared = attr::field_layer(cx, &field.attrs);
                let shortcut = attr::field_flag(cx, &field.attrs, attr::SHORTCUT, "write `#[shortcut]` on each field of a block's shortcut");
                if let (Some(span), None) = (shortcut, residual) {
                    cx.error_at(
                        span,
                        "#[shortcut] marks a field of a residual block's shortcut; add `#[compressible(residual)]` \
                         to the struct to make it a block",
                    );
                }
                let block = attr::field_flag(cx, &field.attrs, attr::BLOCK, "write `#[block]` on a field holding residual blocks");
                let blocks = block.map(|_| block_types(cx, &field.ty));
                if let (Some(span), Some(_)) = (block, residual) {
                    cx.error_at(span, "a residual block cannot hold blocks of its own: put the blocks side by side in the model");
                }
                Field {
                    ident,
                    name: ident.unraw().to_string(),
                    ty: &field.ty,
                    tapped: attr::field_tapped(cx, &field.attrs),
                    shortcut: shortcut.is_some(),
                    layer: match block {
                        Some(_) => None,
                        None => layer_type::parse_layer(cx, declared.as_ref().unwrap_or(&field.ty)),
                    },
                    blocks: blocks.flatten(),
                    torch: attr::field_torch(cx, &field.attrs),
                }
            })
            .collect();
        Some(Container { ident: &item.ident, vis: &item.vis, input, residual: residual.is_some(), fields })
    }
}

/// The block types of a `#[block]` field: a path (one block) or a tuple of paths (blocks in order,
/// reached as `.0`, `.1`, ...).
fn block_types<'a>(cx: &Ctxt, ty: &'a Type) -> Option<Vec<&'a Type>> {
    const FORM: &str = "a `#[block]` field holds one residual block (`layer1: Basic64`) or a tuple of them \
                        (`layer1: (Basic64, Basic64)`), each a struct deriving `Compressible` with `#[compressible(residual)]`";
    let elements: Vec<&Type> = match ty {
        Type::Path(_) => vec![ty],
        Type::Tuple(tuple) if !tuple.elems.is_empty() => tuple.elems.iter().collect(),
        Type::Paren(paren) => return block_types(cx, &paren.elem),
        _ => {
            cx.error_spanned_by(ty, FORM);
            return None;
        }
    };
    let mut ok = true;
    for element in &elements {
        let simple = matches!(element, Type::Path(path) if path.qself.is_none()
            && path.path.segments.iter().all(|segment| segment.arguments.is_none()));
        if !simple {
            cx.error_spanned_by(element, FORM);
            ok = false;
        }
    }
    ok.then_some(elements)
}
