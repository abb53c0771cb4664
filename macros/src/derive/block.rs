//! Residual blocks: a struct deriving `Compressible` with `#[compressible(residual)]`, used by a
//! model through a `#[block]` field.
//!
//! A derive sees only its own struct, so a model learns its blocks' layers through the callback
//! `macro_rules!` every derive defines under the struct's name (the one `compress!` uses): the
//! model's derive calls the first block's macro, which hands its struct to
//! [`derive_with_blocks`], which calls the next one's, and so on; with every block known, the
//! model is checked and expanded as if its blocks' layers were written in place, between the
//! residual markers of the IR (`Fork`, `Shortcut`, `Add`).

use std::collections::HashMap;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{DeriveInput, Type};

use super::ast::Container;
use crate::ctxt::Ctxt;

/// The blocks a model uses, by the type as written (`Basic64`, `blocks::Down128`).
#[derive(Default)]
pub struct Blocks<'a> {
    by_type: HashMap<String, Container<'a>>,
    /// The blocks as they arrived (`{ type } { struct }` each), carried on by the model's macro so
    /// that `compress!` learns them too.
    pub carried: TokenStream,
}

/// The key of a block type: its tokens without spacing.
fn key(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

impl<'a> Blocks<'a> {
    pub fn get(&self, ty: &Type) -> Option<&Container<'a>> {
        self.by_type.get(&key(ty))
    }
}

/// The distinct block types of `container`'s `#[block]` fields, in order of first use.
pub fn block_types<'a>(container: &Container<'a>) -> Vec<&'a Type> {
    let mut seen = Vec::new();
    let mut types = Vec::new();
    for ty in container.fields.iter().filter_map(|field| field.blocks.as_ref()).flatten() {
        if !seen.contains(&key(ty)) {
            seen.push(key(ty));
            types.push(*ty);
        }
    }
    types
}

/// The checks a block makes of itself: a main path, and shortcut fields after it.
pub fn check_block(cx: &Ctxt, container: &Container) {
    super::check::check_torch_names(cx, container);
    if container.fields.iter().all(|field| field.shortcut) {
        cx.error_spanned_by(
            container.ident,
            "a residual block needs layers on its main path: the fields without #[shortcut] run on the block's input, \
             then the #[shortcut] fields run on that input too, and the two are added",
        );
    }
    if let Some(first) = container.fields.iter().position(|field| field.shortcut) {
        if let Some(late) = container.fields[first..].iter().find(|field| !field.shortcut) {
            cx.error_spanned_by(
                late.ident,
                format!(
                    "`{}` is on the main path but comes after the shortcut's `{}`: write the main path first, \
                     then the #[shortcut] fields",
                    late.name, container.fields[first].name
                ),
            );
        }
    }
}

/// The model's derive, when it has `#[block]` fields: the call of the first block's macro.
pub fn start(item: &DeriveInput, types: &[&Type]) -> TokenStream {
    let (first, pending) = (types[0], types.iter().map(|ty| quote!({ #ty })));
    quote! {
        #first! { @fasterai_block { {} { #(#pending)* } { #item } } }
    }
}

/// The state passed from block macro to block macro: the blocks known so far (each `{ type }
/// { struct }`), the types still to learn (the first is the one whose struct arrives last), the
/// model's struct, and the struct the last macro handed over (empty if that block had mistakes).
struct Chain {
    done: Vec<(TokenStream, TokenStream)>,
    pending: Vec<TokenStream>,
    item: TokenStream,
    arrived: TokenStream,
}

fn groups(tokens: TokenStream) -> syn::Result<Vec<TokenStream>> {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => Ok(group.stream()),
            other => Err(syn::Error::new(other.span(), "fasterai-macros bug: malformed block chain")),
        })
        .collect()
}

fn parse_chain(input: TokenStream) -> syn::Result<Chain> {
    let parts = groups(input)?;
    let [done, pending, item, arrived]: [TokenStream; 4] =
        parts.try_into().map_err(|_| syn::Error::new(proc_macro2::Span::call_site(), "fasterai-macros bug: malformed block chain"))?;
    let done = groups(done)?;
    let done = done.chunks(2).map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default())).collect();
    Ok(Chain { done, pending: groups(pending)?, item, arrived })
}

/// `__derive_with_blocks!`: records the block that arrived and asks for the next, or, with every
/// block known, expands the model.
pub fn derive_with_blocks(input: TokenStream) -> TokenStream {
    let Chain { mut done, mut pending, item, arrived } = match parse_chain(input) {
        Ok(chain) => chain,
        Err(error) => return error.to_compile_error(),
    };
    if pending.is_empty() {
        return syn::Error::new(proc_macro2::Span::call_site(), "fasterai-macros bug: a block arrived unasked").to_compile_error();
    }
    done.push((pending.remove(0), arrived));
    if let Some(next) = pending.first() {
        let done = done.iter().map(|(ty, def)| quote!({ #ty } { #def }));
        let pending = pending.iter().map(|ty| quote!({ #ty }));
        return quote! {
            #next! { @fasterai_block { { #(#done)* } { #(#pending)* } { #item } } }
        };
    }
    let item: DeriveInput = match syn::parse2(item) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error(),
    };
    // A block with mistakes handed over nothing: its own derive reported them.
    if done.iter().any(|(_, def)| def.is_empty()) {
        return super::unchecked(&item, Vec::new());
    }
    let mut defs = Vec::with_capacity(done.len());
    for (ty, def) in done {
        match (syn::parse2::<Type>(ty), syn::parse2::<DeriveInput>(def)) {
            (Ok(ty), Ok(def)) => defs.push((ty, def)),
            (Err(error), _) | (_, Err(error)) => return error.to_compile_error(),
        }
    }
    let cx = Ctxt::new();
    let blocks = read_blocks(&cx, &defs);
    let container = Container::from_ast(&cx, &item);
    super::derive_checked(cx, &item, container, &blocks)
}

/// The blocks of `defs` (each a block type as the model writes it, and the block's struct).
fn read_blocks<'a>(cx: &Ctxt, defs: &'a [(Type, DeriveInput)]) -> Blocks<'a> {
    let mut blocks = Blocks::default();
    for (ty, def) in defs {
        blocks.carried.extend(quote!({ #ty } { #def }));
        if let Some(container) = Container::from_ast(cx, def) {
            blocks.by_type.insert(key(ty), container);
        }
    }
    blocks
}

/// The blocks a model's macro carried to `compress!` (see [`Blocks::carried`]), parsed.
pub fn parse_carried(tokens: TokenStream) -> syn::Result<Vec<(Type, DeriveInput)>> {
    let parts = groups(tokens)?;
    parts
        .chunks(2)
        .map(|pair| match pair {
            [ty, def] => Ok((syn::parse2(ty.clone())?, syn::parse2(def.clone())?)),
            _ => Err(syn::Error::new(proc_macro2::Span::call_site(), "fasterai-macros bug: malformed blocks")),
        })
        .collect()
}

/// The checked IR of a model whose blocks `defs` carried (for `compress!`).
pub fn model_with_blocks(cx: &Ctxt, item: &DeriveInput, defs: &[(Type, DeriveInput)]) -> Option<crate::ir::Model> {
    let blocks = read_blocks(cx, defs);
    let container = Container::from_ast(cx, item)?;
    super::check::check(cx, &container, &blocks).map(|checked| checked.model)
}

/// The expansion of a residual block's own derive: its tensors (so a model visits them as a
/// module: `layer1.0.conv1.weight`), the type check of its fields, and its macro.
pub fn expand_block(container: &Container) -> TokenStream {
    let collection = super::expand::tensor_collection(container);
    let bindings = super::bind::bindings(container);
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #collection
        };
        #bindings
    }
}
