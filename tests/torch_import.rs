//! PyTorch `state_dict`s saved as safetensors load into derived models under torchvision's names,
//! and the loaded models compute PyTorch's logits. The fixtures in `tests/data/torch/` come from
//! `scripts/torch_fixture.py` (run by hand): a VGG-style net laid out as torchvision's VGG, the same
//! in float16, torchvision's ResNet class in ResNet-18's layout at 1/16 width, and the key lists of
//! torchvision's full ResNet-18 and VGG16-BN.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};

use fasterai::model::{read_tensors, tensor_names, torch_tensors, NamedTensor, TorchError, TorchMismatch, TorchName};
use fasterai::prelude::*;
use ::safetensors::tensor::{Dtype, TensorView};
use ::safetensors::SafeTensors;
use support::resnet::{ResNet18, TinyResNet18};
use support::torch::TinyVgg;

#[path = "support/vgg16_bn.rs"]
mod vgg16_bn;
use vgg16_bn::Vgg16Bn;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch").join(name)
}

/// The `input` and `logits` PyTorch wrote beside a fixture (f32, row-major).
fn expected(name: &str) -> (Vec<f32>, Vec<f32>) {
    let bytes = std::fs::read(fixture(&format!("{name}.expected.safetensors"))).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let values = |key: &str| -> Vec<f32> {
        let view = file.tensor(key).unwrap();
        assert_eq!(view.dtype(), Dtype::F32);
        view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    (values("input"), values("logits"))
}

/// Every logit within 1e-4 of PyTorch's largest logit magnitude.
fn assert_matches_pytorch(ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "the fixture's logits are not trivial: {theirs:?}");
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        assert!((o - t).abs() <= 1e-4 * scale, "logit {i}: ours {o}, PyTorch {t} (scale {scale})");
    }
}

fn vgg_logits(model: &TinyVgg, input: Vec<f32>) -> Vec<f32> {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(input, (2usize, Const::<3>, Const::<16>, Const::<16>));
    model.try_forward(x).unwrap().as_vec()
}

#[test]
fn tiny_vgg_computes_pytorchs_logits() {
    let mut model = Cpu::seed_from_u64(0).build_module::<TinyVgg, f32>();
    let import = load_torch(&mut model, fixture("tiny_vgg.safetensors")).unwrap();
    assert_eq!((import.loaded, import.converted), (16, 0));
    assert_eq!(import.ignored, ["features.1.num_batches_tracked", "features.5.num_batches_tracked"]);
    let (input, logits) = expected("tiny_vgg");
    assert_matches_pytorch(&vgg_logits(&model, input), &logits);
}

#[test]
fn a_float16_state_dict_is_converted() {
    let mut model = Cpu::seed_from_u64(0).build_module::<TinyVgg, f32>();
    let import = load_torch(&mut model, fixture("tiny_vgg_f16.safetensors")).unwrap();
    assert_eq!((import.loaded, import.converted), (16, 16));
    let (input, logits) = expected("tiny_vgg_f16");
    assert_matches_pytorch(&vgg_logits(&model, input), &logits);
}

#[test]
fn torchvisions_resnet_computes_the_same_logits() {
    let mut model = Cpu::seed_from_u64(0).build_module::<TinyResNet18, f32>();
    let import = load_torch(&mut model, fixture("tiny_resnet18.safetensors")).unwrap();
    assert_eq!((import.loaded, import.ignored.len()), (102, 20));
    let (input, logits) = expected("tiny_resnet18");
    let x = Cpu::default().tensor_from_vec(input, (2usize, Const::<3>, Const::<32>, Const::<32>));
    assert_matches_pytorch(&model.try_forward(x).unwrap().as_vec(), &logits);
}

/// The key list the script wrote for a torchvision model: every `(key, shape)` but the
/// `num_batches_tracked` counters, sorted, and how many keys there are in all.
fn torchvision_keys(name: &str) -> (Vec<(String, Vec<usize>)>, usize) {
    let text = std::fs::read_to_string(fixture(&format!("{name}_keys.txt"))).unwrap();
    let mut keys: Vec<(String, Vec<usize>)> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (key, shape) = line.split_once(' ').unwrap();
            let shape = shape.split(',').filter(|d| !d.is_empty()).map(|d| d.parse().unwrap()).collect();
            (key.to_string(), shape)
        })
        .collect();
    let all = keys.len();
    keys.retain(|(key, _)| !key.ends_with("num_batches_tracked"));
    keys.sort();
    (keys, all)
}

/// Our model's tensors under their PyTorch keys, with shapes, sorted.
fn our_torch_keys<M: Compressible + TensorCollection<f32, Cpu>>(model: &M) -> Vec<(String, Vec<usize>)> {
    let mut keys: Vec<(String, Vec<usize>)> = torch_tensors(model).into_iter().map(|t| (t.torch, t.shape)).collect();
    keys.sort();
    keys
}

/// Every tensor of torchvision's `resnet18(num_classes=10)` (the key list the script wrote) is one
/// of our ResNet-18's, with the same shape, and the other way round; only the 20
/// `num_batches_tracked` counters are left out.
#[test]
fn the_name_map_covers_torchvisions_resnet18() {
    let (theirs, all) = torchvision_keys("resnet18");
    assert_eq!((all, theirs.len()), (122, 102));
    assert_eq!(our_torch_keys(&Cpu::default().build_module::<ResNet18, f32>()), theirs);
}

/// The same for torchvision's `vgg16_bn(num_classes=10)`: 13 conv-BN pairs at `features.N` and
/// three linear layers at `classifier.0/3/6`.
#[test]
fn the_name_map_covers_torchvisions_vgg16_bn() {
    let (theirs, all) = torchvision_keys("vgg16_bn");
    assert_eq!((all, theirs.len()), (97, 84));
    assert_eq!(our_torch_keys(&Cpu::default().build_module::<Vgg16Bn, f32>()), theirs);
}

/// The PyTorch names live only in the map: our tensors, files and layer names stay the fields'.
#[test]
fn our_own_names_are_unchanged() {
    let model = Cpu::default().build_module::<TinyResNet18, f32>();
    let names = tensor_names(&model);
    assert!(names.contains(&"layer2.0.downsample.weight".to_string()), "{names:?}");
    assert!(names.contains(&"layer2.0.downsample_bn.running_var".to_string()));
    assert!(TinyResNet18::layer("layer2.0.downsample_bn").is_some());
    let shortcut = TorchName { layer: "layer2.0.downsample_bn", torch: "layer2.0.downsample.1" };
    assert!(TinyResNet18::TORCH_NAMES.contains(&shortcut));
    let head = TorchName { layer: "fc", torch: "fc" };
    assert!(TinyResNet18::TORCH_NAMES.contains(&head));
    let vgg = Cpu::default().build_module::<TinyVgg, f32>();
    assert_eq!(tensor_names(&vgg)[..2], ["conv1.weight", "conv1.bias"]);
    let keys: Vec<String> = torch_tensors(&vgg).into_iter().map(|t| t.torch).collect();
    assert_eq!(keys[..2], ["features.0.weight", "features.0.bias"]);
    assert_eq!(keys.last().unwrap(), "classifier.3.bias");
}

/// A tensor of a safetensors file, owned, to write a damaged copy of a fixture.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn read_owned(name: &str) -> Vec<Owned> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<Owned> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| Owned { name, dtype: view.dtype(), shape: view.shape().to_vec(), data: view.data().to_vec() })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    tensors
}

fn f32_tensor(name: &str, shape: &[usize]) -> Owned {
    let data = (0..shape.iter().product::<usize>()).flat_map(|i| (i as f32).to_le_bytes()).collect();
    Owned { name: name.to_string(), dtype: Dtype::F32, shape: shape.to_vec(), data }
}

fn write_owned(tensors: &[Owned], name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("fasterai-torch-{name}-{}.safetensors", std::process::id()));
    let views = tensors.iter().map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), &t.data).unwrap()));
    ::safetensors::serialize_to_file(views, &None, &path).unwrap();
    path
}

/// Loads `path` into a fresh `TinyVgg`, checks that it fails and leaves every tensor as it was,
/// removes the file, and returns the error.
fn refused(path: &Path) -> TorchError {
    let mut model = Cpu::seed_from_u64(7).build_module::<TinyVgg, f32>();
    let before: Vec<NamedTensor> = read_tensors(&model);
    let error = load_torch(&mut model, path).expect_err("the file must be refused");
    assert_eq!(read_tensors(&model), before, "a failed load leaves the model unchanged ({error})");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "the error names the file: {message}");
    let _ = std::fs::remove_file(path);
    error
}

#[test]
fn a_missing_tensor_is_named_with_its_shape() {
    let mut tensors = read_owned("tiny_vgg.safetensors");
    tensors.retain(|t| t.name != "classifier.3.bias");
    let error = refused(&write_owned(&tensors, "missing"));
    let expected = TorchMismatch::Missing { torch: "classifier.3.bias".into(), ours: "fc2.bias".into(), expected: vec![10] };
    assert!(matches!(&error, TorchError::Missing { mismatch, .. } if *mismatch == expected), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("`classifier.3.bias` (our `fc2.bias`, shape [10]) is missing from the file"), "{message}");
}

#[test]
fn an_extra_tensor_is_named_with_its_shape() {
    let mut tensors = read_owned("tiny_vgg.safetensors");
    tensors.push(f32_tensor("classifier.5.weight", &[4, 32]));
    let error = refused(&write_owned(&tensors, "extra"));
    let expected = TorchMismatch::Extra { torch: "classifier.5.weight".into(), found: vec![4, 32] };
    assert!(matches!(&error, TorchError::Extra { mismatch, .. } if *mismatch == expected), "{error:?}");
    assert!(error.to_string().contains("`classifier.5.weight` (shape [4, 32]) in the file is no tensor of the model"));
}

#[test]
fn a_wrong_shape_names_the_tensor_and_both_shapes() {
    let mut tensors = read_owned("tiny_vgg.safetensors");
    let conv = tensors.iter().position(|t| t.name == "features.4.weight").unwrap();
    tensors[conv] = f32_tensor("features.4.weight", &[16, 8, 5, 5]);
    let error = refused(&write_owned(&tensors, "shape"));
    let expected = TorchMismatch::Shape {
        torch: "features.4.weight".into(),
        ours: "conv2.weight".into(),
        expected: vec![16, 8, 3, 3],
        found: vec![16, 8, 5, 5],
    };
    assert!(matches!(&error, TorchError::Shape { mismatch, .. } if *mismatch == expected), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("`features.4.weight` has shape [16, 8, 5, 5] in the file but our `conv2.weight` has shape [16, 8, 3, 3]"), "{message}");
}

#[test]
fn a_truncated_file_is_described() {
    let bytes = std::fs::read(fixture("tiny_vgg.safetensors")).unwrap();
    let path = std::env::temp_dir().join(format!("fasterai-torch-truncated-{}.safetensors", std::process::id()));
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let error = refused(&path);
    assert!(matches!(error, TorchError::File { .. }), "{error:?}");
    let message = error.to_string();
    let needle = format!("it is truncated: its header says the file is {} bytes long, but it holds {} bytes", bytes.len(), bytes.len() - 100);
    assert!(message.contains(&needle), "{message}");
}

#[test]
fn another_architecture_lists_what_disagrees() {
    let path = write_owned(&read_owned("tiny_resnet18.safetensors"), "architecture");
    let error = refused(&path);
    let TorchError::Architecture { expected, matched, count, mismatches, .. } = &error else {
        panic!("not an architecture error: {error:?}");
    };
    assert_eq!((*expected, *matched), (16, 0));
    // None of TinyVgg's 16 tensors is there; all 102 of the ResNet's have no place.
    assert_eq!((*count, mismatches.len()), (16 + 102, 118));
    assert!(mismatches.iter().any(|m| matches!(m, TorchMismatch::Extra { torch, .. } if torch == "layer1.0.conv1.weight")));
    let message = error.to_string();
    assert!(message.contains("of its 16 tensors 0 are in the file with their shape, and 118 tensors disagree"), "{message}");
    assert!(message.contains("the file was saved from another architecture"), "{message}");
}

#[test]
fn integer_tensors_and_unreadable_paths_are_refused() {
    let mut tensors = read_owned("tiny_vgg.safetensors");
    let bias = tensors.iter().position(|t| t.name == "features.0.bias").unwrap();
    tensors[bias] = Owned { name: "features.0.bias".into(), dtype: Dtype::I32, shape: vec![8], data: vec![0; 32] };
    let error = refused(&write_owned(&tensors, "integer"));
    assert!(matches!(&error, TorchError::Dtype { torch, dtype, .. } if torch == "features.0.bias" && dtype == "I32"), "{error:?}");

    let missing = std::env::temp_dir().join("fasterai-torch-no-such-file.safetensors");
    assert!(matches!(refused(&missing), TorchError::Io { .. }));
}
