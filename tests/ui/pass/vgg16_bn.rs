// torchvision's VGG16-BN layout with 10 classes at 3x128x128: 134,309,962 parameters.
use fasterai::prelude::*;

#[derive(Compressible)]
#[compressible(input = [3, 128, 128])]
pub struct Vgg16Bn {
    conv1: Conv2D<3, 64, 3, 1, 1>, bn1: BatchNorm2D<64>, relu1: ReLU,
    conv2: Conv2D<64, 64, 3, 1, 1>, bn2: BatchNorm2D<64>, relu2: ReLU,
    pool1: MaxPool2D<2, 2>,
    conv3: Conv2D<64, 128, 3, 1, 1>, bn3: BatchNorm2D<128>, relu3: ReLU,
    conv4: Conv2D<128, 128, 3, 1, 1>, bn4: BatchNorm2D<128>, relu4: ReLU,
    pool2: MaxPool2D<2, 2>,
    conv5: Conv2D<128, 256, 3, 1, 1>, bn5: BatchNorm2D<256>, relu5: ReLU,
    conv6: Conv2D<256, 256, 3, 1, 1>, bn6: BatchNorm2D<256>, relu6: ReLU,
    conv7: Conv2D<256, 256, 3, 1, 1>, bn7: BatchNorm2D<256>, relu7: ReLU,
    pool3: MaxPool2D<2, 2>,
    conv8: Conv2D<256, 512, 3, 1, 1>, bn8: BatchNorm2D<512>, relu8: ReLU,
    conv9: Conv2D<512, 512, 3, 1, 1>, bn9: BatchNorm2D<512>, relu9: ReLU,
    conv10: Conv2D<512, 512, 3, 1, 1>, bn10: BatchNorm2D<512>, relu10: ReLU,
    pool4: MaxPool2D<2, 2>,
    conv11: Conv2D<512, 512, 3, 1, 1>, bn11: BatchNorm2D<512>, relu11: ReLU,
    conv12: Conv2D<512, 512, 3, 1, 1>, bn12: BatchNorm2D<512>, relu12: ReLU,
    conv13: Conv2D<512, 512, 3, 1, 1>, bn13: BatchNorm2D<512>, relu13: ReLU,
    pool5: MaxPool2D<2, 2>,
    avgpool: AdaptiveAvgPool2D<7, 7>,
    flatten: Flatten,
    fc1: Linear<25088, 4096>, relu_fc1: ReLU, drop1: Dropout,
    fc2: Linear<4096, 4096>, relu_fc2: ReLU, drop2: Dropout,
    fc3: Linear<4096, 10>,
}

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
