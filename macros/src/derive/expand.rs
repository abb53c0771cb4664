//! Code generation for a checked model: the static description, dfdx's `TensorCollection`,
//! `BuildOnDevice`, `Module`/`ModuleMut` with concrete shapes, and the forward with taps.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{Container, Field};
use super::check::{Checked, Slot};
use crate::ir::{Activation, Layer, LayerKind, Shape};

/// Every path the generated code uses starts here.
fn private() -> TokenStream {
    quote!(::fasterai::__private)
}

pub fn expand(container: &Container, checked: &Checked) -> TokenStream {
    let description = description(container, checked);
    let collection = tensor_collection(container);
    let modules = modules(container, checked);
    let (taps_struct, taps_impl) = taps(container, checked);
    quote! {
        #taps_struct
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #description
            #collection
            #modules
            #taps_impl
        };
    }
}

/// `(usize, Const<C>, Const<H>, Const<W>)`: the static batch shape the derive computed.
fn static_shape(shape: Shape) -> TokenStream {
    let p = private();
    match shape {
        Shape::Chw { c, h, w } => quote!((usize, #p::Const<#c>, #p::Const<#h>, #p::Const<#w>)),
        Shape::Flat { n } => quote!((usize, #p::Const<#n>)),
    }
}

/// `Tensor<shape, f32, Cpu, tape>`.
fn tensor(shape: Shape, tape: &TokenStream) -> TokenStream {
    let p = private();
    let shape = static_shape(shape);
    quote!(#p::Tensor<#shape, f32, #p::Cpu, #tape>)
}

fn shape_info(shape: Shape) -> TokenStream {
    let p = private();
    match shape {
        Shape::Chw { c, h, w } => quote!(#p::ShapeInfo::Chw { c: #c, h: #h, w: #w }),
        Shape::Flat { n } => quote!(#p::ShapeInfo::Flat { n: #n }),
    }
}

fn kind_info(kind: &LayerKind) -> TokenStream {
    let p = private();
    let kind_info = quote!(#p::LayerKindInfo);
    match *kind {
        LayerKind::Conv2D { in_channels, out_channels, kernel, stride, padding, bias } => quote!(#kind_info::Conv2D {
            in_channels: #in_channels, out_channels: #out_channels, kernel: #kernel,
            stride: #stride, padding: #padding, bias: #bias,
        }),
        LayerKind::BatchNorm2D { channels } => quote!(#kind_info::BatchNorm2D { channels: #channels }),
        LayerKind::BatchNorm1D { features } => quote!(#kind_info::BatchNorm1D { features: #features }),
        LayerKind::Activation(activation) => {
            let name = activation.name();
            quote!(#kind_info::Activation { name: #name })
        }
        LayerKind::MaxPool2D(w) => {
            let (kernel, stride, padding) = (w.kernel, w.stride, w.padding);
            quote!(#kind_info::MaxPool2D { kernel: #kernel, stride: #stride, padding: #padding })
        }
        LayerKind::AvgPool2D(w) => {
            let (kernel, stride, padding) = (w.kernel, w.stride, w.padding);
            quote!(#kind_info::AvgPool2D { kernel: #kernel, stride: #stride, padding: #padding })
        }
        LayerKind::AdaptiveAvgPool2D { out_h, out_w } => quote!(#kind_info::AdaptiveAvgPool2D { out_h: #out_h, out_w: #out_w }),
        LayerKind::GlobalAvgPool => quote!(#kind_info::GlobalAvgPool),
        LayerKind::Flatten => quote!(#kind_info::Flatten),
        LayerKind::Linear { in_features, out_features, bias } => quote!(#kind_info::Linear {
            in_features: #in_features, out_features: #out_features, bias: #bias,
        }),
        LayerKind::Dropout => quote!(#kind_info::Dropout),
        LayerKind::Fork => quote!(#kind_info::Fork),
        LayerKind::Shortcut => quote!(#kind_info::Shortcut),
        LayerKind::Add { relu } => quote!(#kind_info::Add { relu: #relu }),
    }
}

/// `impl Compressible`: input, layers, couplings and PyTorch names as constants.
fn description(container: &Container, checked: &Checked) -> TokenStream {
    let p = private();
    let ident = container.ident;
    let input = shape_info(checked.model.input);
    let layers = checked.model.layers.iter().zip(&checked.shapes).map(|(layer, (input, output))| {
        let name = &layer.name;
        let kind = kind_info(&layer.kind);
        let params = layer.kind.params();
        let macs = layer.kind.macs(*output);
        let tapped = layer.tapped;
        let (input, output) = (shape_info(*input), shape_info(*output));
        quote!(#p::LayerInfo {
            name: #name, kind: #kind, input: #input, output: #output, params: #params, macs: #macs, tapped: #tapped,
        })
    });
    let name = |index: usize| checked.model.layers[index].name.as_str();
    let couplings = checked.couplings.iter().map(|coupling| {
        let producer = name(coupling.producer);
        let consumer = name(coupling.consumer);
        let batch_norm = match coupling.batch_norm {
            Some(index) => {
                let bn = name(index);
                quote!(::core::option::Option::Some(#bn))
            }
            None => quote!(::core::option::Option::None),
        };
        let group = coupling.group;
        quote!(#p::Coupling { producer: #producer, batch_norm: #batch_norm, consumer: #consumer, group: #group })
    });
    let groups = checked.groups.iter().map(|group| {
        let producers = group.producers.iter().map(|&i| name(i));
        let batch_norms = group.batch_norms.iter().map(|&i| name(i));
        let consumers = group.consumers.iter().map(|&(i, span)| {
            let consumer = name(i);
            quote!((#consumer, #span))
        });
        let (channels, prunable) = (group.channels, group.prunable);
        quote!(#p::ChannelGroup {
            producers: &[#(#producers),*], batch_norms: &[#(#batch_norms),*], consumers: &[#(#consumers),*],
            channels: #channels, prunable: #prunable,
        })
    });
    let torch = checked.model.layers.iter().zip(&checked.slots).filter(|(layer, _)| layer.kind.has_tensors()).map(|(layer, slot)| {
        let (name, torch) = (&layer.name, &slot.torch);
        quote!(#p::TorchName { layer: #name, torch: #torch })
    });
    quote! {
        #[automatically_derived]
        impl #p::Compressible for #ident {
            const INPUT: #p::ShapeInfo = #input;
            const LAYERS: &'static [#p::LayerInfo] = &[#(#layers),*];
            const COUPLINGS: &'static [#p::Coupling] = &[#(#couplings),*];
            const CHANNEL_GROUPS: &'static [#p::ChannelGroup] = &[#(#groups),*];
            const TORCH_NAMES: &'static [#p::TorchName] = &[#(#torch),*];
        }
    }
}

/// Groups items into nested tuples of at most six, the largest tuple dfdx's `ModuleFields` takes.
fn nest(items: Vec<TokenStream>) -> TokenStream {
    if items.len() <= 6 {
        return quote!((#(#items,)*));
    }
    let groups: Vec<TokenStream> = items.chunks(6).map(|chunk| quote!((#(#chunk,)*))).collect();
    nest(groups)
}

/// dfdx's `TensorCollection` (tensor names are the field names: `conv1.weight`) and `BuildOnDevice`.
///
/// The struct is not generic, so `To<E2, D2>` is the struct itself; a visitor that would convert
/// the model to another dtype or device is declined (`Ok(None)`), and the fields a building
/// visitor returns are moved into the declared field types, which they then equal.
pub fn tensor_collection(container: &Container) -> TokenStream {
    let p = private();
    let ident = container.ident;
    let with_tensors: Vec<&Field> = container
        .fields
        .iter()
        .filter(|field| field.blocks.is_some() || field.layer.as_ref().is_some_and(|layer| layer.kind.has_tensors()))
        .collect();
    let visits = with_tensors
        .iter()
        .map(|field| {
            let (member, name) = (field.ident, &field.name);
            let module = quote_spanned!(field.ty.span()=> <Self as #p::TensorCollection<f32, #p::Cpu>>::module);
            quote!(#module(#name, |__s| &__s.#member, |__s| &mut __s.#member))
        })
        .collect();
    let bindings: Vec<_> = with_tensors.iter().map(|field| format_ident!("__field_{}", field.name)).collect();
    let pattern = nest(bindings.iter().map(|binding| quote!(#binding)).collect());
    let visits = nest(visits);
    let inits = container.fields.iter().map(|field| {
        let (member, ty) = (field.ident, field.ty);
        match with_tensors.iter().position(|with| with.ident == field.ident) {
            Some(index) => {
                let binding = &bindings[index];
                quote_spanned!(ty.span()=> #member: #p::same_type::<_, #ty>(#binding))
            }
            None => quote_spanned!(ty.span()=> #member: <#ty as ::core::default::Default>::default()),
        }
    });
    let body = quote! {
        if !#p::visits_f32_cpu::<__V::E2, __V::D2>() {
            return ::core::result::Result::Ok(::core::option::Option::None);
        }
        __visitor.visit_fields(#visits, |#pattern| #ident { #(#inits,)* })
    };
    collection_impls(ident, quote!(__visitor), body)
}

/// `ident`'s `TensorCollection` impl, whose `iter_tensors` names its visitor `visitor` (`_` when
/// unused) and runs `body`, and its `BuildOnDevice` impl (the model builds as itself); the
/// fallback's stubs use it too.
pub fn collection_impls(ident: &syn::Ident, visitor: TokenStream, body: TokenStream) -> TokenStream {
    let p = private();
    quote! {
        #[automatically_derived]
        impl #p::TensorCollection<f32, #p::Cpu> for #ident {
            type To<__E2: #p::Dtype, __D2: #p::Device<__E2>> = #ident;

            fn iter_tensors<__V: #p::ModuleVisitor<Self, f32, #p::Cpu>>(
                #visitor: &mut __V,
            ) -> ::core::result::Result<::core::option::Option<Self::To<__V::E2, __V::D2>>, __V::Err> {
                #body
            }
        }

        #[automatically_derived]
        impl #p::BuildOnDevice<#p::Cpu, f32> for #ident {
            type Built = #ident;
        }
    }
}

/// Training or inference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `Module` on `NoneTape`: every layer's `try_forward`, BatchNorm on running statistics.
    Infer,
    /// `ModuleMut` on `OwnedTape`: `try_forward_mut` for BatchNorm and Dropout.
    Train,
}

/// The form a layer's `Module` impl takes its input in, when it differs from the static shape:
/// the runtime's convolution, pools and `Flatten` take dynamic spatial dimensions.
fn dynamic_input(kind: &LayerKind, input: Shape) -> Option<TokenStream> {
    let p = private();
    match (kind, input) {
        (
            LayerKind::Conv2D { .. }
            | LayerKind::MaxPool2D(_)
            | LayerKind::AvgPool2D(_)
            | LayerKind::AdaptiveAvgPool2D { .. }
            | LayerKind::GlobalAvgPool
            | LayerKind::Flatten,
            Shape::Chw { c, .. },
        ) => Some(quote!((usize, #p::Const<#c>, usize, usize))),
        _ => None,
    }
}

/// Statements running every layer on `__x`, then `Ok(__x)` or `Ok((__x, taps))`.
fn forward_body(checked: &Checked, mode: Mode, taps_type: Option<&syn::Ident>) -> TokenStream {
    let p = private();
    let mut statements = Vec::new();
    let mut tap_fields = Vec::new();
    let layers = &checked.model.layers;
    // The ReLU right after a fused batch norm: its call is already made.
    let mut fused_relu = false;
    // The residual blocks open at this point: the kept input (`__skip_<i>`), and the main path's
    // output once the shortcut began (`__main_<i>`).
    let mut open: Vec<(syn::Ident, Option<syn::Ident>)> = Vec::new();
    for (i, ((slot, layer), (input, output))) in checked.slots.iter().zip(layers).zip(&checked.shapes).enumerate() {
        let (access, name, span) = (&slot.access, &layer.name, slot.span);
        match layer.kind {
            LayerKind::Fork => {
                let skip = format_ident!("__skip_{}", i);
                statements.push(quote!(let #skip = #p::WithEmptyTape::with_empty_tape(&__x);));
                open.push((skip, None));
            }
            LayerKind::Shortcut => {
                let (skip, main) = open.last_mut().expect("a shortcut inside a block");
                let kept = format_ident!("__main_{}", i);
                statements.push(quote!(let #kept = __x; let __x = #skip;));
                *main = Some(kept);
            }
            LayerKind::Add { relu } => {
                let (skip, main) = open.pop().expect("an add ends a block");
                let (left, right) = match main {
                    Some(main) => (quote!(#main), quote!(__x)),
                    None => (quote!(__x), quote!(#skip)),
                };
                statements.push(quote!(
                    let __x = #p::residual_add(#left, #right, #relu, #name)?;
                ));
            }
            _ if std::mem::take(&mut fused_relu) => {
                // Nothing to run; the tap (if any) sees the fused output, which is this ReLU's. The
                // field is still read, so a model whose every ReLU is fused gets no dead-code warning.
                statements.push(quote!(let _ = &self.#access;));
            }
            _ if fuses_with_relu(layer, layers.get(i + 1)) => {
                // Batch norm + ReLU in one pass (one read of the input, one output; in training one
                // backward, with the batch statistics; in inference the running ones).
                let (Shape::Chw { c, .. }, dims) = (*input, input.dims()) else { unreachable!("a batch norm 2D input is C×H×W") };
                let target = static_shape(*output);
                let run = match mode {
                    Mode::Train => quote!(#p::batch_norm2d_train(__x, &mut self.#access, #p::BnActivation::Relu)),
                    Mode::Infer => quote!(#p::batch_norm2d_infer(__x, &self.#access, #p::BnActivation::Relu)),
                };
                statements.push(quote!(
                    let __x = #p::realize::<_, (usize, #p::Const<#c>, usize, usize), _>(__x, #name, &[#(#dims),*])?;
                    let __x = #run.map_err(|__e| #p::IntoLayerError::into_layer_error(__e, #name))?;
                    let __x = #p::realize::<_, #target, _>(__x, #name, &[#(#dims),*])?;
                ));
                fused_relu = true;
            }
            _ => statements.extend(layer_call(layer, access, name, span, *input, *output, mode)),
        }
        if layer.tapped {
            let tap = format_ident!("__tap_{}", Slot::tap_ident(name));
            statements.push(quote!(let #tap = #p::WithEmptyTape::with_empty_tape(&__x);));
            tap_fields.push((Slot::tap_ident(name), tap));
        }
    }
    let result = match taps_type {
        Some(taps) => {
            let inits = tap_fields.iter().map(|(member, tap)| quote!(#member: #tap));
            quote!((__x, #taps { #(#inits,)* }))
        }
        None => quote!(__x),
    };
    quote! {
        #(#statements)*
        ::core::result::Result::Ok(#result)
    }
}

/// A batch norm whose output only feeds a ReLU (not tapped itself) runs fused with it, in
/// training and in inference.
fn fuses_with_relu(layer: &Layer, next: Option<&Layer>) -> bool {
    matches!(layer.kind, LayerKind::BatchNorm2D { .. })
        && !layer.tapped
        && matches!(next.map(|n| &n.kind), Some(LayerKind::Activation(Activation::ReLU)))
}

/// The statements running one layer on `__x` (relabelling the shape around layers that take
/// dynamic dimensions).
fn layer_call(layer: &Layer, member: &TokenStream, name: &str, span: Span, input: Shape, output: Shape, mode: Mode) -> Vec<TokenStream> {
    let p = private();
    let mut statements = Vec::new();
    if let Some(dynamic) = dynamic_input(&layer.kind, input) {
        let dims = input.dims();
        statements.push(quote!(let __x = #p::realize::<_, #dynamic, _>(__x, #name, &[#(#dims),*])?;));
    }
    // Only the trait path carries the field type's span (so an error points at the field); `self`
    // and `__x` keep the derive's own span, which a `macro_rules!` caller's hygiene would
    // otherwise separate from the `self` and `__x` they refer to.
    let call = if mode == Mode::Train && layer.kind.trains_differently() {
        let method = quote_spanned!(span=> #p::ModuleMut::try_forward_mut);
        quote!(#method(&mut self.#member, __x))
    } else if mode == Mode::Infer && matches!(layer.kind, LayerKind::Linear { .. }) {
        // A batch of one image: the GEMV on the weight in place, not dfdx's one-row matmul.
        let method = quote_spanned!(span=> #p::InferLinear::forward_infer);
        quote!(#method(&self.#member, __x))
    } else {
        let method = quote_spanned!(span=> #p::Module::try_forward);
        quote!(#method(&self.#member, __x))
    };
    statements.push(quote!(
        let __x = #call.map_err(|__e| #p::IntoLayerError::into_layer_error(__e, #name))?;
    ));
    if dynamic_input(&layer.kind, input).is_some() {
        let (target, dims) = (static_shape(output), output.dims());
        statements.push(quote!(let __x = #p::realize::<_, #target, _>(__x, #name, &[#(#dims),*])?;));
    }
    statements
}

/// `Module` (inference, `NoneTape`) and `ModuleMut` (training, `OwnedTape`; and `NoneTape`, which
/// runs the inference forward).
fn modules(container: &Container, checked: &Checked) -> TokenStream {
    let p = private();
    let ident = container.ident;
    let none = quote!(#p::NoneTape);
    let owned = quote!(#p::OwnedTape<f32, #p::Cpu>);
    let output = checked.model.output().expect("checked model");
    let (input_none, output_none) = (tensor(checked.model.input, &none), tensor(output, &none));
    let (input_owned, output_owned) = (tensor(checked.model.input, &owned), tensor(output, &owned));
    let infer = forward_body(checked, Mode::Infer, None);
    let train = forward_body(checked, Mode::Train, None);
    quote! {
        #[automatically_derived]
        impl #p::Module<#input_none> for #ident {
            type Output = #output_none;
            type Error = #p::NnError;

            fn try_forward(&self, __x: #input_none) -> ::core::result::Result<#output_none, #p::NnError> {
                #infer
            }
        }

        #[automatically_derived]
        impl #p::ModuleMut<#input_none> for #ident {
            type Output = #output_none;
            type Error = #p::NnError;

            fn try_forward_mut(&mut self, __x: #input_none) -> ::core::result::Result<#output_none, #p::NnError> {
                #p::Module::try_forward(&*self, __x)
            }
        }

        #[automatically_derived]
        impl #p::ModuleMut<#input_owned> for #ident {
            type Output = #output_owned;
            type Error = #p::NnError;

            fn try_forward_mut(&mut self, __x: #input_owned) -> ::core::result::Result<#output_owned, #p::NnError> {
                #train
            }
        }
    }
}

/// With `#[tap]` fields: a public `<Name>Taps<T>` struct holding each tapped activation,
/// `forward_with_taps` / `forward_mut_with_taps`, and `TappedForward` (the taps as named feature maps).
fn taps(container: &Container, checked: &Checked) -> (TokenStream, TokenStream) {
    let tapped: Vec<(&str, Shape)> = checked
        .model
        .layers
        .iter()
        .zip(&checked.shapes)
        .filter(|(layer, _)| layer.tapped)
        .map(|(layer, (_, output))| (layer.name.as_str(), *output))
        .collect();
    if tapped.is_empty() {
        return (TokenStream::new(), TokenStream::new());
    }
    let p = private();
    let (ident, vis) = (container.ident, container.vis);
    let taps = format_ident!("{}Taps", ident);
    let tape = quote!(T);
    let fields = tapped.iter().map(|(name, shape)| {
        let (member, ty) = (Slot::tap_ident(name), tensor(*shape, &tape));
        let doc = format!("The output of `{}`, {}.", name, describe(*shape));
        quote!(#[doc = #doc] pub #member: #ty)
    });
    let struct_doc = format!("The activations of `{ident}`'s `#[tap]` fields, returned by `{ident}::forward_with_taps`.");
    let none = quote!(#p::NoneTape);
    let owned = quote!(#p::OwnedTape<f32, #p::Cpu>);
    let output = checked.model.output().expect("checked model");
    let (input_none, output_none) = (tensor(checked.model.input, &none), tensor(output, &none));
    let (input_owned, output_owned) = (tensor(checked.model.input, &owned), tensor(output, &owned));
    let infer = forward_body(checked, Mode::Infer, Some(&taps));
    let train = forward_body(checked, Mode::Train, Some(&taps));
    let taps_struct = quote! {
        #[doc = #struct_doc]
        #[derive(Debug, Clone)]
        #vis struct #taps<T> {
            #(#fields,)*
        }
    };
    let tap_infos = tapped.iter().map(|(name, shape)| {
        let shape = shape_info(*shape);
        quote!(#p::TapInfo { name: #name, shape: #shape })
    });
    let views: Vec<TokenStream> = tapped
        .iter()
        .map(|(name, _)| {
            let member = Slot::tap_ident(name);
            quote!(#p::Tap::from_output(#name, __taps.#member)?)
        })
        .collect();
    let (static_input, static_output) = (static_shape(checked.model.input), static_shape(output));
    let taps_impl = quote! {
        #[automatically_derived]
        impl #p::TappedForward for #ident {
            type Input = #static_input;
            type Output = #static_output;
            const TAPS: &'static [#p::TapInfo] = &[#(#tap_infos),*];

            fn forward_train_tapped(
                &mut self,
                __x: #input_owned,
            ) -> ::core::result::Result<#p::TrainTapped<Self>, #p::NnError> {
                let (__y, __taps) = #ident::forward_mut_with_taps(self, __x)?;
                ::core::result::Result::Ok((__y, ::core::convert::Into::into([#(#views),*])))
            }

            fn forward_tapped(
                &self,
                __x: #input_none,
            ) -> ::core::result::Result<#p::InferTapped<Self>, #p::NnError> {
                let (__y, __taps) = #ident::forward_with_taps(self, __x)?;
                ::core::result::Result::Ok((__y, ::core::convert::Into::into([#(#views),*])))
            }
        }

        #[automatically_derived]
        impl #ident {
            /// The inference forward (running BatchNorm statistics, no dropout) that also returns
            /// the activations of the `#[tap]` fields.
            #vis fn forward_with_taps(
                &self,
                __x: #input_none,
            ) -> ::core::result::Result<(#output_none, #taps<#none>), #p::NnError> {
                #infer
            }

            /// The training forward that also returns the `#[tap]` activations. Each tap carries an
            /// empty tape that shares the model's gradients: add a loss on taps to the loss on the
            /// output (which holds the tape) before calling `backward`.
            #vis fn forward_mut_with_taps(
                &mut self,
                __x: #input_owned,
            ) -> ::core::result::Result<(#output_owned, #taps<#owned>), #p::NnError> {
                #train
            }
        }
    };
    (taps_struct, taps_impl)
}

fn describe(shape: Shape) -> String {
    match shape {
        Shape::Chw { c, h, w } => format!("batch × {c} × {h} × {w}"),
        Shape::Flat { n } => format!("batch × {n}"),
    }
}

