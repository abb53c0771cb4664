//! Runs the shape walk of the IR over the parsed struct and reports every mistake on the token it
//! concerns.

use super::ast::Container;
use crate::ctxt::Ctxt;
use crate::ir::layer::Blame;
use crate::ir::{Coupling, Layer, Model, Shape, Step};

/// A model whose every layer fits the next: what expansion needs.
pub struct Checked {
    pub model: Model,
    /// Each layer's (input, output).
    pub shapes: Vec<(Shape, Shape)>,
    pub couplings: Vec<Coupling>,
}

/// Builds the IR and checks it. Returns `None` (with every mistake reported) unless the input
/// shape and all field types were read and every layer checks.
pub fn check(cx: &Ctxt, container: &Container) -> Option<Checked> {
    let input = container.input.as_ref()?.shape;
    let layers: Option<Vec<Layer>> = container
        .fields
        .iter()
        .map(|field| {
            let parsed = field.layer.as_ref()?;
            Some(Layer { name: field.name.clone(), kind: parsed.kind, tapped: field.tapped })
        })
        .collect();
    let model = Model { input, layers: layers? };
    let mut shapes = Vec::with_capacity(model.layers.len());
    for (step, field) in model.infer().into_iter().zip(&container.fields) {
        match step {
            Step::Checked { input, output } => shapes.push((input, output)),
            Step::Failed(error) => {
                let parsed = field.layer.as_ref().expect("every field parsed");
                match error.blame() {
                    Blame::Arg(index) if index < parsed.arg_spans.len() => cx.error_at(parsed.arg_spans[index], &error),
                    _ => cx.error_spanned_by(field.ty, &error),
                }
            }
            Step::Unchecked => {}
        }
    }
    if shapes.len() != model.layers.len() {
        return None;
    }
    let couplings = model.couplings()?;
    Some(Checked { model, shapes, couplings })
}
