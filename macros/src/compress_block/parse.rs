//! The syntax of `compress!`: `/// docs  pub NewName = Model { stage(args), ... }`.
//!
//! Only the shape of the tokens is read here; what the stages and options mean is checked in
//! [`super::check`], with every mistake reported at once.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, parenthesized, Attribute, Ident, LitFloat, LitInt, LitStr, Token, Type, Visibility};

/// The whole block.
pub struct Schedule {
    /// Doc comments (and other attributes) for the generated struct.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The model: a name in scope (`Net`) or a path (`models::Net`).
    pub model: syn::Path,
    pub stages: Vec<Stage>,
}

/// `name(arg, key = value, ...)`.
pub struct Stage {
    pub name: Ident,
    pub args: Vec<Arg>,
}

/// One argument of a stage.
pub enum Arg {
    /// `50%`, `0.5`, `"x"`, `cos`.
    Positional(Value),
    /// `key = value`; a layer inside a residual block is named by its path (`layer1.0.conv1 = 32`).
    Named { key: Key, value: Value },
    /// `key: Type` (the teacher of `distill`). The type is only checked for syntax here; the
    /// training stages that use it are run by the runtime.
    #[allow(dead_code)]
    Typed { key: Key, ty: Box<Type> },
}

/// A value in a stage's arguments.
pub enum Value {
    /// `50%`: a percentage, with the span of the whole literal.
    Percent { value: f64, span: Span },
    /// A plain number (`0.5`, `10`, `1e-4`), with its literal's text for integers.
    Number { value: f64, integer: Option<u64>, span: Span },
    Str(LitStr),
    /// `cos`, or `SoftTarget(temperature = 3.0, alpha = 0.5)`.
    Call { name: Ident, args: Option<Vec<Arg>> },
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Percent { span, .. } | Value::Number { span, .. } => *span,
            Value::Str(lit) => lit.span(),
            Value::Call { name, .. } => name.span(),
        }
    }
}

/// The key of a named argument: an option (`epochs`) or a layer, by its path from the model
/// (`conv1`, `layer1.0.conv1`, with the tuple index of a `#[block]` field).
#[derive(Clone)]
pub struct Key {
    /// The path as written, without spaces.
    text: String,
    /// The tokens as written, for errors that cover the whole key.
    tokens: proc_macro2::TokenStream,
    first: Ident,
}

impl Key {
    pub fn span(&self) -> Span {
        self.first.span()
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl quote::ToTokens for Key {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        tokens.extend(self.tokens.clone());
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl Parse for Key {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let first = input.call(Ident::parse_any)?;
        let mut text = first.unraw().to_string();
        let mut tokens = quote::quote!(#first);
        while input.peek(Token![.]) {
            let dot: Token![.] = input.parse()?;
            let lookahead = input.lookahead1();
            let segment = if lookahead.peek(LitInt) {
                let index: LitInt = input.parse()?;
                let value: usize = index.base10_parse()?;
                tokens.extend(quote::quote!(#dot #index));
                value.to_string()
            } else if lookahead.peek(Ident::peek_any) {
                let ident = input.call(Ident::parse_any)?;
                tokens.extend(quote::quote!(#dot #ident));
                ident.unraw().to_string()
            } else {
                return Err(lookahead.error());
            };
            text.push('.');
            text.push_str(&segment);
        }
        Ok(Key { text, tokens, first })
    }
}

/// Whether a named argument starts here: `key =` or `a.0.b =`.
fn named_ahead(input: ParseStream) -> bool {
    let fork = input.fork();
    fork.parse::<Key>().is_ok() && fork.peek(Token![=]) && !fork.peek(Token![==])
}

impl Parse for Schedule {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let model = model_path(input)?;
        if !input.peek(syn::token::Brace) {
            return Err(input.error(format!(
                "expected the stages in braces after the model: `{} = {} {{ prune(50%), fold() }}`",
                name,
                path_text(&model)
            )));
        }
        let body;
        braced!(body in input);
        let stages = Punctuated::<Stage, Token![,]>::parse_terminated(&body)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the schedule: write one `pub Name = Model { ... }` per block"));
        }
        Ok(Schedule { attrs, vis, name, model, stages: stages.into_iter().collect() })
    }
}

impl Parse for Stage {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if !lookahead.peek(Ident::peek_any) {
            return Err(lookahead.error());
        }
        let name = input.call(Ident::parse_any)?;
        if !input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                name.span(),
                format!("a stage takes parentheses, even when empty: write `{name}(...)`"),
            ));
        }
        Ok(Stage { name, args: parse_args(input)? })
    }
}

/// `( arg, arg, ... )`.
fn parse_args(input: ParseStream) -> syn::Result<Vec<Arg>> {
    let content;
    parenthesized!(content in input);
    Ok(Punctuated::<Arg, Token![,]>::parse_terminated(&content)?.into_iter().collect())
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident::peek_any) && named_ahead(input) {
            let key: Key = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(Arg::Named { key, value: input.parse()? });
        }
        if input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let key: Key = input.parse()?;
            input.parse::<Token![:]>()?;
            return Ok(Arg::Typed { key, ty: Box::new(input.parse()?) });
        }
        Ok(Arg::Positional(input.parse()?))
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(LitInt) {
            let lit: LitInt = input.parse()?;
            // A macro passing `-4` on may hand it over as one negative literal.
            let value: i128 = lit.base10_parse()?;
            let integer = u64::try_from(value).ok();
            number_or_percent(input, value as f64, integer, lit.span())
        } else if lookahead.peek(LitFloat) {
            let lit: LitFloat = input.parse()?;
            number_or_percent(input, lit.base10_parse()?, None, lit.span())
        } else if lookahead.peek(LitStr) {
            Ok(Value::Str(input.parse()?))
        } else if lookahead.peek(Ident::peek_any) {
            let name = input.call(Ident::parse_any)?;
            let args = if input.peek(syn::token::Paren) { Some(parse_args(input)?) } else { None };
            Ok(Value::Call { name, args })
        } else if lookahead.peek(Token![-]) {
            let minus: Token![-] = input.parse()?;
            match input.parse::<Value>()? {
                Value::Number { value, span, .. } => {
                    let span = minus.span.join(span).unwrap_or(span);
                    Ok(Value::Number { value: -value, integer: None, span })
                }
                Value::Percent { value, span } => {
                    Ok(Value::Percent { value: -value, span: minus.span.join(span).unwrap_or(span) })
                }
                other => Err(syn::Error::new(other.span(), "only a number can be negative")),
            }
        } else {
            Err(lookahead.error())
        }
    }
}

/// The model's path: `Net`, `models::Net`, `crate::models::Net`, without generic arguments.
fn model_path(input: ParseStream) -> syn::Result<syn::Path> {
    let lookahead = input.lookahead1();
    if !(lookahead.peek(Ident) || lookahead.peek(Token![::]) || lookahead.peek(Token![crate]) || lookahead.peek(Token![self]) || lookahead.peek(Token![super])) {
        return Err(lookahead.error());
    }
    let path = input.call(syn::Path::parse_mod_style)?;
    if input.peek(Token![<]) {
        return Err(input.error("the model is a struct without generic parameters: drop the `<...>`"));
    }
    Ok(path)
}

/// `models::Net` as written, for messages and docs.
pub fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() { "::" } else { "" };
    format!("{lead}{}", segments.join("::"))
}

/// The struct's own name: the last segment of the model's path.
pub fn model_ident(path: &syn::Path) -> &Ident {
    &path.segments.last().expect("a parsed path has a segment").ident
}

fn number_or_percent(input: ParseStream, value: f64, integer: Option<u64>, span: Span) -> syn::Result<Value> {
    if input.peek(Token![%]) {
        let percent: Token![%] = input.parse()?;
        Ok(Value::Percent { value, span: span.join(percent.span()).unwrap_or(span) })
    } else {
        Ok(Value::Number { value, integer, span })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// DESIGN.md's schedule on SmallVgg, every stage once; the checker's tests use it too.
    pub(in crate::compress_block) const DESIGN_EXAMPLE: &str = "/// Deployable.
        pub Deployed = SmallVgg {
            distill(teacher: Teacher, loss = SoftTarget(temperature = 3.0, alpha = 0.5), epochs = 10, lr = 1e-4),
            sparsify(50%, granularity = filter, context = local, criteria = large_final, schedule = cos, epochs = 10, lr = 1e-5),
            prune(50%, epochs = 5, lr = 1e-5),
            fold(),
            factorize(0.5, epochs = 5, lr = 1e-5),
            quantize(epochs = 5, lr = 1e-5),
        }";

    #[test]
    fn parses_the_design_example() {
        let schedule: Schedule = syn::parse_str(DESIGN_EXAMPLE).unwrap();
        assert_eq!(schedule.name, "Deployed");
        assert_eq!(path_text(&schedule.model), "SmallVgg");
        let names: Vec<String> = schedule.stages.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(names, ["distill", "sparsify", "prune", "fold", "factorize", "quantize"]);
        assert!(matches!(schedule.stages[0].args[0], Arg::Typed { .. }));
        assert!(matches!(schedule.stages[1].args[0], Arg::Positional(Value::Percent { value, .. }) if value == 50.0));
        assert!(schedule.stages[3].args.is_empty());
    }

    #[test]
    fn widths_and_plans_parse_as_named_arguments() {
        let stage: Stage = syn::parse_str("prune(conv1 = 16, plan = \"p.json\")").unwrap();
        assert!(matches!(&stage.args[0], Arg::Named { key, value: Value::Number { integer: Some(16), .. } } if key == "conv1"));
        assert!(matches!(&stage.args[1], Arg::Named { value: Value::Str(_), .. }));
    }

    #[test]
    fn a_layer_inside_a_block_is_named_by_its_path() {
        let stage: Stage = syn::parse_str("prune(layer1.0.conv1 = 16, conv1 = 8)").unwrap();
        assert!(matches!(&stage.args[0], Arg::Named { key, .. } if key == "layer1.0.conv1"));
        assert!(matches!(&stage.args[1], Arg::Named { key, .. } if key == "conv1"));
    }

    #[test]
    fn a_stage_without_parentheses_is_refused() {
        let error = syn::parse_str::<Stage>("fold").err().unwrap();
        assert!(error.to_string().contains("write `fold(...)`"), "{error}");
    }
}
