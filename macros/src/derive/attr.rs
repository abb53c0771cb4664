//! `#[compressible(input = [C, H, W])]` on the struct; `#[tap]`, `#[layer(..)]`, `#[shortcut]`,
//! `#[block]` and `#[torch = ".."]` on a field.

use syn::{Attribute, Expr, ExprArray, Lit};

use crate::ctxt::Ctxt;
use crate::ir::Shape;

pub const COMPRESSIBLE: &str = "compressible";
pub const INPUT: &str = "input";
pub const TAP: &str = "tap";
pub const LAYER: &str = "layer";
pub const RESIDUAL: &str = "residual";
pub const SHORTCUT: &str = "shortcut";
pub const BLOCK: &str = "block";
pub const TORCH: &str = "torch";

const INPUT_FORM: &str = "`input = [C, H, W]` for images (e.g. `input = [1, 28, 28]`) or `input = [N]` for flat features";

/// The declared input shape.
pub struct InputAttr {
    pub shape: Shape,
}

/// What the struct's attributes say about the input shape.
pub enum Input {
    /// No `input` option at all.
    Missing,
    /// Given but malformed, or the attribute could not be read (already reported).
    Invalid,
    Given(InputAttr),
}

/// Reads every `#[compressible(..)]` attribute of the struct. Reports unknown options, a repeated
/// `input` and a malformed shape. `residual` (a residual block) is read by [`container_residual`].
pub fn container_input(cx: &Ctxt, attrs: &[Attribute]) -> Input {
    let mut input: Option<Option<InputAttr>> = None;
    let mut unreadable = false;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(COMPRESSIBLE)) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(RESIDUAL) {
                Ok(())
            } else if meta.path.is_ident(INPUT) {
                let value: Expr = meta.value()?.parse()?;
                let shape = parse_shape(cx, &value);
                if input.is_some() {
                    cx.error_spanned_by(&meta.path, "duplicate `input`: give the input shape once");
                } else {
                    input = Some(shape.map(|shape| InputAttr { shape }));
                }
                Ok(())
            } else {
                let name = meta.path.get_ident().map_or_else(|| "this path".to_string(), |i| format!("`{i}`"));
                Err(meta.error(format!(
                    "unknown option {name} in #[compressible(..)]; the options are {INPUT_FORM}, and `residual` \
                     for a residual block"
                )))
            }
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
            unreadable = true;
        }
    }
    match input {
        Some(Some(given)) => Input::Given(given),
        Some(None) => Input::Invalid,
        None if unreadable => Input::Invalid,
        None => Input::Missing,
    }
}

/// The `residual` option of `#[compressible(..)]`, if given: the struct is a residual block.
pub fn container_residual(attrs: &[Attribute]) -> Option<proc_macro2::Span> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(COMPRESSIBLE)) {
        // Errors were reported by `container_input`, which reads the same attribute.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(RESIDUAL) {
                found = Some(syn::spanned::Spanned::span(&meta.path));
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    found
}

/// Whether the field carries the path-only attribute `name` (`#[shortcut]`, `#[block]`); arguments
/// or a repetition are reported.
pub fn field_flag(cx: &Ctxt, attrs: &[Attribute], name: &str, usage: &str) -> Option<proc_macro2::Span> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(name)) {
        if attr.meta.require_path_only().is_err() {
            cx.error_spanned_by(&attr.meta, format!("#[{name}] takes no arguments: {usage}"));
        } else if found.is_some() {
            cx.error_spanned_by(attr, format!("duplicate #[{name}]"));
        }
        found = Some(syn::spanned::Spanned::span(attr));
    }
    found
}

/// `[C, H, W]` or `[N]` of positive integer literals.
fn parse_shape(cx: &Ctxt, value: &Expr) -> Option<Shape> {
    let malformed = || cx.error_spanned_by(value, format!("malformed input shape: write {INPUT_FORM}"));
    let Expr::Array(ExprArray { elems, .. }) = value else {
        malformed();
        return None;
    };
    let mut dims = Vec::with_capacity(elems.len());
    for elem in elems {
        match elem {
            Expr::Lit(syn::ExprLit { lit: Lit::Int(lit), .. }) => match lit.base10_parse::<usize>() {
                Ok(0) => {
                    cx.error_spanned_by(lit, "input sizes must be at least 1");
                    return None;
                }
                Ok(dim) => dims.push(dim),
                Err(error) => {
                    cx.syn_error(error);
                    return None;
                }
            },
            _ => {
                cx.error_spanned_by(elem, format!("input sizes must be integer literals: write {INPUT_FORM}"));
                return None;
            }
        }
    }
    match dims[..] {
        [c, h, w] => Some(Shape::Chw { c, h, w }),
        [n] => Some(Shape::Flat { n }),
        _ => {
            malformed();
            None
        }
    }
}

/// Whether the field carries `#[tap]` (reported if it has arguments or is repeated).
pub fn field_tapped(cx: &Ctxt, attrs: &[Attribute]) -> bool {
    let mut tapped = false;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(TAP)) {
        if attr.meta.require_path_only().is_err() {
            cx.error_spanned_by(&attr.meta, "#[tap] takes no arguments: write `#[tap]` on the field whose output to expose");
        } else if tapped {
            cx.error_spanned_by(attr, "duplicate #[tap]");
        }
        tapped = true;
    }
    tapped
}

/// `#[layer(Linear<4, 8>)]`: the fasterai layer a field's type is (an alias, or a path the derive
/// does not read), checked by rustc to be the same type. `None` without the attribute.
pub fn field_layer(cx: &Ctxt, attrs: &[Attribute]) -> Option<syn::Type> {
    let mut found: Option<syn::Type> = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(LAYER)) {
        match attr.parse_args::<syn::Type>() {
            Ok(_) if found.is_some() => cx.error_spanned_by(attr, "duplicate #[layer]: give the layer once"),
            Ok(ty) => found = Some(ty),
            Err(_) => cx.error_spanned_by(
                &attr.meta,
                "#[layer] names the fasterai layer the field's type is, with its sizes: `#[layer(Linear<4, 8>)]`",
            ),
        }
    }
    found
}

/// `#[torch = "features.0"]`: the prefix PyTorch's `state_dict` gives the field's tensors.
pub struct TorchAttr {
    pub name: String,
    /// The string literal, for errors.
    pub span: proc_macro2::Span,
}

const TORCH_FORM: &str = "#[torch = \"features.0\"] names the prefix of the field's tensors in a PyTorch \
                          `state_dict` (`features.0.weight`, `features.0.bias`)";

/// The field's `#[torch = ".."]`, if any. A malformed or repeated attribute, and a name that is
/// empty or not dot-separated identifiers and indices, are reported.
pub fn field_torch(cx: &Ctxt, attrs: &[Attribute]) -> Option<TorchAttr> {
    let mut found: Option<TorchAttr> = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident(TORCH)) {
        let literal = match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: Expr::Lit(syn::ExprLit { lit: Lit::Str(literal), .. }), ..
            }) => literal,
            meta => {
                cx.error_spanned_by(meta, format!("malformed #[torch]: {TORCH_FORM}"));
                continue;
            }
        };
        if found.is_some() {
            cx.error_spanned_by(attr, "duplicate #[torch]: give the field's PyTorch name once");
            continue;
        }
        let name = literal.value();
        if let Some(problem) = torch_name_problem(&name) {
            cx.error_spanned_by(literal, format!("{problem}; {TORCH_FORM}"));
            continue;
        }
        found = Some(TorchAttr { name, span: literal.span() });
    }
    found
}

/// What is wrong with a PyTorch module path, if anything: it must be dot-separated parts of
/// ASCII letters, digits and `_` (`features.0`, `layer1.0.downsample.1`).
fn torch_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the PyTorch name is empty".to_string());
    }
    if name.split('.').any(str::is_empty) {
        return Some(format!("`{name}` has an empty part between dots"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.')) {
        return Some(format!("`{name}` holds `{bad}`; a PyTorch module path has letters, digits, `_` and dots"));
    }
    for suffix in [".weight", ".bias", ".running_mean", ".running_var"] {
        if name.ends_with(suffix) {
            return Some(format!(
                "`{name}` ends with the tensor's own name: give the module's prefix, `{}`",
                &name[..name.len() - suffix.len()]
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(source: &str) -> (Option<Shape>, Vec<String>) {
        let item: syn::DeriveInput = syn::parse_str(&format!("{source} struct S {{}}")).unwrap();
        let cx = Ctxt::new();
        let shape = match container_input(&cx, &item.attrs) {
            Input::Given(given) => Some(given.shape),
            Input::Missing | Input::Invalid => None,
        };
        (shape, cx.check().err().unwrap_or_default().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn input_shapes() {
        assert_eq!(input("#[compressible(input = [1, 28, 28])]"), (Some(Shape::Chw { c: 1, h: 28, w: 28 }), vec![]));
        assert_eq!(input("#[compressible(input = [784])]"), (Some(Shape::Flat { n: 784 }), vec![]));
        assert_eq!(input("#[derive(Clone)]"), (None, vec![]), "missing is reported by the caller, which knows the struct");
    }

    #[test]
    fn input_mistakes() {
        for (source, message) in [
            ("#[compressible(input = [1, 28])]", "malformed input shape"),
            ("#[compressible(input = 28)]", "malformed input shape"),
            ("#[compressible(input = [0, 28, 28])]", "input sizes must be at least 1"),
            ("#[compressible(input = [1, N, 28])]", "input sizes must be integer literals"),
            ("#[compressible(input = [3])] #[compressible(input = [3])]", "duplicate `input`"),
            ("#[compressible(shape = [3])]", "unknown option `shape`"),
        ] {
            let (_, errors) = input(source);
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            assert!(errors[0].starts_with(message), "{source}: {errors:?}");
        }
    }

    #[test]
    fn taps() {
        let field: syn::Field = syn::parse_quote!(#[tap] fc: Linear<2, 2>);
        let cx = Ctxt::new();
        assert!(field_tapped(&cx, &field.attrs));
        let twice: syn::Field = syn::parse_quote!(#[tap] #[tap] fc: Linear<2, 2>);
        assert!(field_tapped(&cx, &twice.attrs));
        let errors = cx.check().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "duplicate #[tap]");
    }

    #[test]
    fn torch_names() {
        let read = |source: &str| {
            let field: syn::Field = syn::parse_str::<syn::DeriveInput>(&format!("struct S {{ {source} fc: Linear<2, 2> }}"))
                .map(|item| match item.data {
                    syn::Data::Struct(data) => data.fields.into_iter().next().unwrap(),
                    _ => unreachable!(),
                })
                .unwrap();
            let cx = Ctxt::new();
            let name = field_torch(&cx, &field.attrs).map(|attr| attr.name);
            (name, cx.check().err().unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(read(r#"#[torch = "layer1.0.downsample.0"]"#), (Some("layer1.0.downsample.0".into()), vec![]));
        assert_eq!(read(""), (None, vec![]));
        for (source, message) in [
            (r#"#[torch = ""]"#, "the PyTorch name is empty"),
            (r#"#[torch = "features..0"]"#, "`features..0` has an empty part"),
            (r#"#[torch = "features 0"]"#, "`features 0` holds ` `"),
            (r#"#[torch = "fc.weight"]"#, "`fc.weight` ends with the tensor's own name: give the module's prefix, `fc`"),
            (r#"#[torch(name = "fc")]"#, "malformed #[torch]"),
            (r#"#[torch = 3]"#, "malformed #[torch]"),
            (r#"#[torch = "a"] #[torch = "b"]"#, "duplicate #[torch]"),
        ] {
            let (_, errors) = read(source);
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            assert!(errors[0].starts_with(message), "{source}: {errors:?}");
        }
    }
}
