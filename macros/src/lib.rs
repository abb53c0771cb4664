//! Procedural macros of fasterai: `#[derive(Compressible)]` and `compress!`.
//!
//! Use them through the `fasterai` crate, not directly.

mod ctxt;
mod derive;
mod ir;
mod compress_block;

/// Checks a model written as a struct of layers and generates everything it needs.
///
/// The struct has named fields whose types are fasterai's layers, applied in field order, and one
/// attribute giving the shape of an input sample (without the batch dimension):
/// `#[compressible(input = [C, H, W])]` for images, `#[compressible(input = [N])]` for vectors.
///
/// Known layer types (recognised by their last path segment; every size an integer literal; the
/// derive then asserts that the field's type IS that fasterai layer, so a type of one's own named
/// `ReLU` is a compile error, and dfdx's spelling `Linear<4, 8, f32, Cpu>` of the same type is
/// accepted). For an alias, name the layer on the field: `#[layer(Linear<4, 8>)] fc1: Hidden`
/// (rustc checks that `Hidden` is that type):
/// `Conv2D<IN, OUT, KERNEL, STRIDE = 1, PADDING = 0>`, `UnbiasedConv2D<..same..>`,
/// `BatchNorm2D<C>`, `BatchNorm1D<N>`, `MaxPool2D<KERNEL, STRIDE = KERNEL, PADDING = 0>`,
/// `AvgPool2D<..same..>`, `AdaptiveAvgPool2D<OUT_H, OUT_W>`, `GlobalAvgPool`, `Flatten`,
/// `Linear<IN, OUT>`, `UnbiasedLinear<IN, OUT>`, `Dropout`, and the activations `ReLU`, `GeLU`,
/// `FastGeLU`, `AccurateGeLU`, `Sigmoid`, `Tanh`.
///
/// The derive computes every layer's output shape while expanding and reports, each on the token
/// it concerns and all at once: a channel count that does not match the previous layer, a
/// BatchNorm of the wrong size, a `Linear` whose input is not the flattened size, a `Linear`
/// before `Flatten`, a window that shrinks a spatial size to zero, an unknown layer type, a
/// missing or malformed `input`, and items it does not support (tuple structs, enums, generics).
///
/// It generates, for `f32` on the `Cpu`:
/// - `Compressible`: input shape, every layer's name, kind, shapes and parameter count, and the
///   coupling structure for structured pruning;
/// - dfdx's `TensorCollection` (tensor keys are field names: `conv1.weight`) and `BuildOnDevice`,
///   so `dev.build_module::<Model, f32>()`, optimizers, `num_trainable_params` and safetensors
///   work; converting to another dtype or device is not supported;
/// - `Module` on `NoneTape` (inference) and `ModuleMut` on `OwnedTape` (training: BatchNorm
///   updates its statistics, Dropout drops) with concrete input and output types such as
///   `Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>`, and `Error = NnError`; while
///   training, a `BatchNorm2D` field followed by a `ReLU` field runs as one fused pass (the same
///   values up to float rounding; not when the batch norm itself is `#[tap]`ped);
/// - with `#[tap]` on fields: a `<Name>Taps<T>` struct and `forward_with_taps` /
///   `forward_mut_with_taps`, returning the output and the tapped activations, and
///   `TappedForward` (the taps as named `(batch, C, H, W)` feature maps, for feature distillation);
/// - the PyTorch name of every layer with tensors (`Compressible::TORCH_NAMES`), for loading a
///   PyTorch `state_dict` saved as safetensors: a field's own name unless it carries
///   `#[torch = "features.0"]`, joined with dots through `#[block]` fields (`layer1.0.conv1`, the
///   tuple index giving `.0`); an empty or malformed name, `#[torch]` on a layer without tensors,
///   and two fields loading the same PyTorch tensors are errors;
/// - a hidden `macro_rules!` that hands the layers to `compress!`, re-exported under the struct's
///   name in the macro namespace, so `compress!` finds it wherever the struct can be named.
///
/// The derive works inside a `macro_rules!` expansion too (its locals are its own).
#[proc_macro_derive(Compressible, attributes(compressible, tap, layer, shortcut, block, torch))]
pub fn derive_compressible(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let item = syn::parse_macro_input!(input as syn::DeriveInput);
    derive::derive(&item).into()
}

/// Declares a compressed version of a model: a block of stages and the new type they produce.
///
/// ```ignore
/// compress! {
///     /// Half the filters, BatchNorms folded, fc1 factorized.
///     pub Small = SmallVgg { prune(50%), fold(), factorize(0.5), quantize() }
/// }
/// ```
///
/// Stages (each at most once): `distill(teacher: Type, loss = .., epochs = N, lr = x)` (a feature
/// loss such as `Attention(p = 2)` compares the `#[tap]` maps, paired by spatial size, or as named by
/// `pairs = "student_tap -> teacher_tap, student_tap2 -> teacher_tap2"`: the student taps are checked
/// here, the teacher's before the first training step),
/// `sparsify(50%, granularity = .., context = local|global, criteria = .., schedule = .., epochs, lr)`,
/// `prune(50%)`, `prune(conv1 = 16, conv3 = 48)` or `prune(plan = "plan.json")` (path relative to
/// Cargo.toml, read at compile time; cargo rebuilds when it changes), `fold()`,
/// `factorize(0.5)` (every Linear but the classifier keeps `max(1, ⌊(1 − 0.5)·min(I, O)⌋)` ranks)
/// or `factorize(fc1 = 64)` (add `energy = 90%` to make those ranks maxima and pick, at run time, the
/// smallest rank keeping 90% of `Σσ²`, zero-filling the rest), and `quantize(epochs, lr)`, which must
/// come after `fold()` and every structural stage. Ratios are `50%` or `0.5`, within 0–100%.
///
/// The structural stages (prune, fold, factorize) are applied at compile time to the model's
/// layer list, and the result is a new struct deriving `Compressible` with the new sizes; every
/// mistake (unknown stage, option or layer, a width larger than the layer, pruning the classifier,
/// `factorize` on a convolution, `context = global` without a plan, ...) is a spanned error.
///
/// The new type gets `from_source(&model)` — `from_source(&model, &plan)` when the schedule prunes —
/// which runs the structural stages in order on trained weights: copies the filters the
/// [`PrunePlan`](../fasterai/compress/prune/struct.PrunePlan.html) keeps, folds the BatchNorms,
/// factorizes by truncated SVD. Several structural stages go through hidden intermediate types, one
/// per stage, so every intermediate shape is checked by rustc too.
///
/// The model is named as in any Rust code: `Net` in scope (before or after its definition in the
/// module, or imported with `use`), or a path such as `models::Net`. Its layers reach this macro
/// through a hidden macro that `#[derive(Compressible)]` defines next to the struct under the
/// same name. The names of stages, options, criteria, schedules, granularities, contexts and losses
/// come from `fasterai::vocab`, which the run time reads too.
///
/// Stages that would do nothing, or the opposite of what they say, are refused: a block without
/// stages, `prune(0%)`, `prune(100%)`, `sparsify(0%)`, `sparsify(100%)`, `factorize(0%)`, a
/// factorize rank that makes a layer bigger, `fold()` on a model without BatchNorm, `alpha = 0`
/// in a distillation loss. On any mistake, a stub of the declared type is emitted beside the
/// errors, so code using it reports nothing else.
#[proc_macro]
pub fn compress(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    compress_block::compress(input.into()).into()
}

/// The second half of `compress!`, called by the model's hidden macro with its struct. Not a public API.
#[doc(hidden)]
#[proc_macro]
pub fn __compress_with_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    compress_block::compress_with_model(input.into()).into()
}

/// The model derive's second half when the model has `#[block]` fields: each block's hidden macro
/// hands its struct here, and the last one expands the model. Not a public API.
#[doc(hidden)]
#[proc_macro]
pub fn __derive_with_blocks(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    derive::derive_with_blocks(input.into()).into()
}
