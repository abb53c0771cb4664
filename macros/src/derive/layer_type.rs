//! Recognises a field's type as one of the runtime's layers, by the last path segment, and reads
//! its integer-literal generic arguments. The name alone is not trusted: [`super::bind`] makes
//! rustc check that the type is that layer.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, GenericArgument, Lit, PathArguments, Type};

use crate::ctxt::Ctxt;
use crate::ir::{Activation, LayerKind, Window};

/// A layer type with the span of each argument written, by position, for errors that concern one
/// argument. Arguments left to their default have no span.
pub struct ParsedLayer {
    pub kind: LayerKind,
    pub arg_spans: Vec<Span>,
    /// The layer's name as written (`ReLU`), for the type check.
    pub ident: syn::Ident,
    /// Its integer-literal arguments as written (trailing type arguments such as dfdx's `f32, Cpu`
    /// left out): fasterai's layer with these is the type the field must be.
    pub literal_args: Vec<GenericArgument>,
}

/// The generic parameters a layer type takes: the names (for messages) and how many are required.
struct Signature {
    params: &'static [&'static str],
    required: usize,
}

const CONV: Signature = Signature { params: &["IN", "OUT", "KERNEL", "STRIDE = 1", "PADDING = 0"], required: 3 };
const POOL: Signature = Signature { params: &["KERNEL", "STRIDE = KERNEL", "PADDING = 0"], required: 1 };
const ONE: Signature = Signature { params: &["C"], required: 1 };
const TWO: Signature = Signature { params: &["IN", "OUT"], required: 2 };
const SIZE: Signature = Signature { params: &["OUT_H", "OUT_W"], required: 2 };
const NONE: Signature = Signature { params: &[], required: 0 };

/// Every layer type the derive knows, with its signature.
const KNOWN: &[(&str, Signature)] = &[
    ("Conv2D", CONV),
    ("UnbiasedConv2D", CONV),
    ("BatchNorm2D", ONE),
    ("BatchNorm1D", ONE),
    ("MaxPool2D", POOL),
    ("AvgPool2D", POOL),
    ("AdaptiveAvgPool2D", SIZE),
    ("GlobalAvgPool", NONE),
    ("Flatten", NONE),
    ("Linear", TWO),
    ("UnbiasedLinear", TWO),
    ("Dropout", NONE),
];

fn known_names() -> String {
    let mut names: Vec<&str> = KNOWN.iter().map(|(name, _)| *name).collect();
    names.extend(Activation::ALL.iter().map(|a| a.name()));
    names.join(", ")
}

fn signature(name: &str) -> Option<&'static Signature> {
    if Activation::ALL.iter().any(|a| a.name() == name) {
        return Some(&NONE);
    }
    KNOWN.iter().find(|(known, _)| *known == name).map(|(_, signature)| signature)
}

/// Parses the field type `ty` into a layer, reporting an unknown type, a wrong number of
/// parameters or a parameter that is not an integer literal.
pub fn parse_layer(cx: &Ctxt, ty: &Type) -> Option<ParsedLayer> {
    let Type::Path(path) = ty else {
        cx.error_spanned_by(ty, format!("not a layer type; #[derive(Compressible)] knows: {}", known_names()));
        return None;
    };
    let segment = path.path.segments.last()?;
    let name = segment.ident.to_string();
    let Some(signature) = signature(&name) else {
        cx.error_spanned_by(
            &segment.ident,
            format!(
                "unknown layer type `{name}`; #[derive(Compressible)] knows: {}. If `{name}` is an alias of \
                 one of them, name that layer on the field: `#[layer(Linear<4, 8>)]`; if it is a residual block \
                 (deriving `Compressible` with `#[compressible(residual)]`), mark the field `#[block]`",
                known_names()
            ),
        );
        return None;
    };
    let mut args: Vec<&GenericArgument> = match &segment.arguments {
        PathArguments::None => Vec::new(),
        PathArguments::AngleBracketed(angle) => angle.args.iter().collect(),
        PathArguments::Parenthesized(_) => {
            cx.error_spanned_by(ty, format!("`{name}` takes angle-bracketed parameters"));
            return None;
        }
    };
    // dfdx's full spelling, `Linear<4, 8, f32, Cpu>`: trailing type arguments after the sizes are
    // left to rustc, which checks that the whole type is fasterai's layer.
    while args.len() > signature.required && matches!(args.last(), Some(GenericArgument::Type(_))) {
        args.pop();
    }
    if args.len() < signature.required || args.len() > signature.params.len() {
        let expected = match (signature.required, signature.params.len()) {
            (_, 0) => "no parameters".to_string(),
            (required, all) if required == all => format!("{all} parameters"),
            (required, all) => format!("{required} to {all} parameters"),
        };
        let list = if signature.params.is_empty() { String::new() } else { format!(" `<{}>`", signature.params.join(", ")) };
        cx.error_spanned_by(ty, format!("`{name}` takes {expected}{list}, found {}", args.len()));
        return None;
    }
    let mut values = Vec::with_capacity(args.len());
    let mut arg_spans = Vec::with_capacity(args.len());
    let mut all_literal = true;
    for arg in &args {
        arg_spans.push(arg.span());
        match literal(arg) {
            Some(Ok(value)) => values.push(value),
            Some(Err(error)) => {
                cx.syn_error(error);
                all_literal = false;
            }
            None => {
                cx.error_spanned_by(
                    arg,
                    format!(
                        "the parameters of `{name}` must be integer literals such as `32`: \
                         #[derive(Compressible)] computes every shape while expanding, before \
                         generics and constants are known"
                    ),
                );
                all_literal = false;
            }
        }
    }
    if !all_literal {
        return None;
    }
    Some(ParsedLayer {
        kind: kind(&name, &values)?,
        arg_spans,
        ident: segment.ident.clone(),
        literal_args: args.into_iter().cloned().collect(),
    })
}

/// The value of an integer-literal argument; `None` for anything else.
fn literal(arg: &GenericArgument) -> Option<syn::Result<usize>> {
    match arg {
        GenericArgument::Const(Expr::Lit(syn::ExprLit { lit: Lit::Int(lit), .. })) => Some(lit.base10_parse()),
        _ => None,
    }
}

/// The layer kind for a known name and its literal arguments (arity already checked).
fn kind(name: &str, values: &[usize]) -> Option<LayerKind> {
    let at = |index: usize, default: usize| values.get(index).copied().unwrap_or(default);
    let window = || Window { kernel: values[0], stride: at(1, values[0]), padding: at(2, 0) };
    let conv = |bias| LayerKind::Conv2D {
        in_channels: values[0],
        out_channels: values[1],
        kernel: values[2],
        stride: at(3, 1),
        padding: at(4, 0),
        bias,
    };
    Some(match name {
        "Conv2D" => conv(true),
        "UnbiasedConv2D" => conv(false),
        "BatchNorm2D" => LayerKind::BatchNorm2D { channels: values[0] },
        "BatchNorm1D" => LayerKind::BatchNorm1D { features: values[0] },
        "MaxPool2D" => LayerKind::MaxPool2D(window()),
        "AvgPool2D" => LayerKind::AvgPool2D(window()),
        "AdaptiveAvgPool2D" => LayerKind::AdaptiveAvgPool2D { out_h: values[0], out_w: values[1] },
        "GlobalAvgPool" => LayerKind::GlobalAvgPool,
        "Flatten" => LayerKind::Flatten,
        "Linear" => LayerKind::Linear { in_features: values[0], out_features: values[1], bias: true },
        "UnbiasedLinear" => LayerKind::Linear { in_features: values[0], out_features: values[1], bias: false },
        "Dropout" => LayerKind::Dropout,
        other => LayerKind::Activation(*Activation::ALL.iter().find(|a| a.name() == other)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> (Option<LayerKind>, Vec<String>) {
        let cx = Ctxt::new();
        let ty: Type = syn::parse_str(source).unwrap();
        let kind = parse_layer(&cx, &ty).map(|layer| layer.kind);
        let errors = cx.check().err().unwrap_or_default().iter().map(ToString::to_string).collect();
        (kind, errors)
    }

    #[test]
    fn defaults_fill_omitted_parameters() {
        let (kind, errors) = parse("Conv2D<1, 32, 3>");
        assert!(errors.is_empty());
        assert_eq!(
            kind,
            Some(LayerKind::Conv2D { in_channels: 1, out_channels: 32, kernel: 3, stride: 1, padding: 0, bias: true })
        );
        assert_eq!(parse("nn::MaxPool2D<3>").0, Some(LayerKind::MaxPool2D(Window { kernel: 3, stride: 3, padding: 0 })));
        assert_eq!(parse("AvgPool2D<3, 1, 1>").0, Some(LayerKind::AvgPool2D(Window { kernel: 3, stride: 1, padding: 1 })));
        assert_eq!(parse("UnbiasedLinear<4, 2>").0, Some(LayerKind::Linear { in_features: 4, out_features: 2, bias: false }));
        assert_eq!(parse("Sigmoid").0, Some(LayerKind::Activation(Activation::Sigmoid)));
        assert_eq!(parse("Linear<4usize, 2>").0, Some(LayerKind::Linear { in_features: 4, out_features: 2, bias: true }));
        // dfdx's spelling: the trailing type arguments are left to rustc's type check.
        assert_eq!(parse("dfdx::nn::modules::Linear<4, 2, f32, Cpu>").0, Some(LayerKind::Linear { in_features: 4, out_features: 2, bias: true }));
    }

    #[test]
    fn mistakes_are_reported_with_what_is_accepted() {
        let (kind, errors) = parse("Conv3D<1, 2, 3>");
        assert_eq!(kind, None);
        assert!(errors[0].starts_with("unknown layer type `Conv3D`; #[derive(Compressible)] knows: Conv2D,"), "{errors:?}");
        assert!(errors[0].contains("name that layer on the field: `#[layer(Linear<4, 8>)]`"), "{errors:?}");
        assert!(errors[0].ends_with("mark the field `#[block]`"), "{errors:?}");
        let (_, errors) = parse("Conv2D<1, 2>");
        assert_eq!(errors, vec!["`Conv2D` takes 3 to 5 parameters `<IN, OUT, KERNEL, STRIDE = 1, PADDING = 0>`, found 2"]);
        let (_, errors) = parse("ReLU<3>");
        assert_eq!(errors, vec!["`ReLU` takes no parameters, found 1"]);
        let (_, errors) = parse("Linear<N, { 2 }>");
        assert_eq!(errors.len(), 2, "one error per non-literal argument: {errors:?}");
        let (_, errors) = parse("(ReLU, ReLU)");
        assert!(errors[0].starts_with("not a layer type"));
    }
}
