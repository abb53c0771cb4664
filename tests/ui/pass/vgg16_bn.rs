// torchvision's VGG16-BN layout with 10 classes at 3x128x128: 134,309,962 parameters, as the
// integration tests declare it.
use fasterai::prelude::*;

#[path = "../../support/vgg16_bn.rs"]
mod vgg16_bn;
use vgg16_bn::Vgg16Bn;

fn main() {
    // Built only as a description here: the weights take 537 MB.
    assert_eq!(Vgg16Bn::num_params(), 134_309_962);
    assert_eq!(Vgg16Bn::layer("pool5").unwrap().output, ShapeInfo::Chw { c: 512, h: 4, w: 4 });
    assert_eq!(Vgg16Bn::layer("avgpool").unwrap().output, ShapeInfo::Chw { c: 512, h: 7, w: 7 });
    assert_eq!(Vgg16Bn::COUPLINGS.len(), 15);
    let conv13 = Vgg16Bn::COUPLINGS.iter().find(|c| c.producer == "conv13").unwrap();
    assert_eq!((conv13.consumer, conv13.group), ("fc1", 49));
    assert!(Vgg16Bn::COUPLINGS.iter().all(|c| c.producer != "fc3"), "the classifier is never pruned");
}
