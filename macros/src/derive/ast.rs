//! The derive input as an owned description: struct name, input shape, and one layer per field,
//! each keeping the tokens errors and generated code point at.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use super::attr::{self, Input, InputAttr};
use super::layer_type::{self, ParsedLayer};
use crate::ctxt::Ctxt;

pub struct Container<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    /// `None` when missing or malformed (already reported).
    pub input: Option<InputAttr>,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    /// The name without `r#`, used for tensor keys and descriptions.
    pub name: String,
    pub ty: &'a Type,
    pub tapped: bool,
    /// `None` when the type is not a known layer (already reported).
    pub layer: Option<ParsedLayer>,
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
        let input = match input {
            Input::Given(given) => Some(given),
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
                Field {
                    ident,
                    name: ident.unraw().to_string(),
                    ty: &field.ty,
                    tapped: attr::field_tapped(cx, &field.attrs),
                    layer: layer_type::parse_layer(cx, declared.as_ref().unwrap_or(&field.ty)),
                }
            })
            .collect();
        Some(Container { ident: &item.ident, vis: &item.vis, input, fields })
    }
}
