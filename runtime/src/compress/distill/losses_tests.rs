//! Tests of the distillation losses against a numpy transcription of fasterai's torch code, and of
//! their gradients against the analytic form (SoftTarget) and central finite differences (all others).
//!
//! The expected values come from this script (numpy 2, float64):
//! ```text
//! import numpy as np
//! def log_softmax(z): m=z.max(1,keepdims=True); return z-m-np.log(np.exp(z-m).sum(1,keepdims=True))
//! def softmax(z): return np.exp(log_softmax(z))
//! def kl_batchmean(logq, t):  # torch kl_div(input=logq, target=t, 'batchmean')
//!     terms = np.where(t>0, t*(np.log(np.where(t>0,t,1))-logq), 0.0); return terms.sum()/t.shape[0]
//! p = np.array([[1.0, 2.0, 0.5], [-1.0, 0.3, 2.2]]); q = np.array([[0.5, 1.5, 1.0], [0.0, -0.5, 3.0]]); y = np.array([1, 2])
//! def soft_target(p,q,T): return kl_batchmean(log_softmax(p/T), softmax(q/T))*T*T
//! def dkd(p,q,y,T,a,b,normalize):
//!     gt = np.zeros_like(p); gt[np.arange(len(y)), y] = 1
//!     ss, ts = softmax(p/T), softmax(q/T)
//!     st = np.stack([ss[gt==1], 1-ss[gt==1]],1); tt = np.stack([ts[gt==1], 1-ts[gt==1]],1)
//!     tckd = kl_batchmean(np.log(np.clip(st,1e-7,None)), tt)
//!     if normalize:
//!         B,C = p.shape
//!         sn = (p/T)[gt==0].reshape(B,C-1); tn = (q/T)[gt==0].reshape(B,C-1)
//!         nckd = kl_batchmean(log_softmax(sn), softmax(tn))
//!     else:
//!         nckd = kl_batchmean(log_softmax(p/T-1000*gt), softmax(q/T-1000*gt))
//!     return (a*tckd+b*nckd)*T*T
//! print(soft_target(p,q,4.0), soft_target(p,q,1.0), ((p-q)**2).mean())
//! print(dkd(p,q,y,4.0,1.0,8.0,False), dkd(p,q,y,4.0,1.0,8.0,True), dkd(p,q,y,2.0,0.5,2.0,False))
//! print((4.0/2*(softmax(p/4)-softmax(q/4))).ravel().tolist())   # SoftTarget's analytic gradient
//! fs = (np.arange(16).reshape(2,2,2,2) % 5 - 2.0) * 0.5        # student (2,2,2,2)
//! ft = (np.arange(24).reshape(2,3,2,2) % 7 - 3.0) * 0.25       # teacher (2,3,2,2)
//! ft2 = (np.arange(16).reshape(2,2,2,2) % 3 - 1.0)             # teacher (2,2,2,2)
//! def normalize(x): n = np.sqrt((x**2).sum(1,keepdims=True)); return x/np.maximum(n,1e-12)
//! def at(f,pw): return normalize((f**pw).mean(1).reshape(f.shape[0],-1))
//! print(((at(fs,2)-at(ft,2))**2).mean(), ((at(fs,1)-at(ft,1))**2).mean())
//! def sim(f): g = f.reshape(f.shape[0],-1); return normalize(g@g.T)
//! print(((sim(fs)-sim(ft))**2).mean(), ((fs-ft2)**2).mean())
//! def ab(s,t,m):
//!     pos = (s+m)**2*((s>-m)&(t<=0)); neg=(s-m)**2*((s<=m)&(t>0)); return (pos+neg).mean()
//! print(ab(fs,ft2,2.0), ab(fs,ft2,0.5), ((fs-ft2)**2).mean() + ((fs*2-ft2)**2).mean())
//! ```

use super::*;

const P: [f32; 6] = [1.0, 2.0, 0.5, -1.0, 0.3, 2.2];
const Q: [f32; 6] = [0.5, 1.5, 1.0, 0.0, -0.5, 3.0];
const Y: [usize; 2] = [1, 2];

fn dev() -> Cpu {
    Default::default()
}

fn logits(v: &[f32]) -> Logits {
    dev().tensor_from_vec(v.to_vec(), (2, 3))
}

fn fmap(v: &[f32], shape: (usize, usize, usize, usize)) -> FeatureMap {
    dev().tensor_from_vec(v.to_vec(), shape)
}

/// Student (2,2,2,2), teacher (2,3,2,2) and teacher (2,2,2,2) of the script.
fn fs() -> Vec<f32> {
    (0..16).map(|i| ((i % 5) as f32 - 2.0) * 0.5).collect()
}
fn ft() -> Vec<f32> {
    (0..24).map(|i| ((i % 7) as f32 - 3.0) * 0.25).collect()
}
fn ft2() -> Vec<f32> {
    (0..16).map(|i| (i % 3) as f32 - 1.0).collect()
}

fn logit_value(loss: DistillLoss, p: &[f32]) -> f32 {
    loss.loss(logits(p).leaky_trace(), &logits(&Q), Some(&Y)).unwrap().array()
}

fn close(got: f32, want: f64, what: &str) {
    assert!((f64::from(got) - want).abs() < 1e-5 * want.abs().max(1.0), "{what}: got {got}, want {want}");
}

#[test]
fn logit_losses_match_the_script() {
    let dkd = |t, a, b, normalize| DistillLoss::DecoupledKd { temperature: t, alpha: a, beta: b, normalize };
    close(logit_value(DistillLoss::soft_target(4.0).unwrap(), &P), 0.18342545569825647, "SoftTarget T=4");
    close(logit_value(DistillLoss::Mutual, &P), 0.07653103881933618, "Mutual");
    close(logit_value(DistillLoss::Logits, &P), 0.505, "Logits");
    close(logit_value(dkd(4.0, 1.0, 8.0, false), &P), 2.1639972197627007, "DecoupledKD");
    close(logit_value(dkd(4.0, 1.0, 8.0, true), &P), 2.1639972197627007, "DecoupledKD normalize");
    close(logit_value(dkd(2.0, 0.5, 2.0, false), &P), 0.548981989808285, "DecoupledKD T=2");
}

#[test]
fn soft_target_gradient_is_t_over_batch_times_the_softmax_difference() {
    let p = logits(&P);
    let loss = DistillLoss::soft_target(4.0).unwrap().loss(p.leaky_trace(), &logits(&Q), None).unwrap();
    let g = loss.backward().get(&p).as_vec();
    let want = [
        0.04632876900845895,
        0.05948731693071663,
        -0.1058160859391758,
        -0.06618309145237256,
        0.15919898784919095,
        -0.09301589639681818,
    ];
    for (i, (&g, w)) in g.iter().zip(want).enumerate() {
        close(g, w, &format!("dL/dp[{i}]"));
    }
}

/// Central differences of `f` at `x`, compared with `grad`.
fn check_gradient(what: &str, x: &[f32], grad: &[f32], f: impl Fn(&[f32]) -> f32) {
    let h = 1e-3f32;
    for i in 0..x.len() {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[i] += h;
        down[i] -= h;
        let numeric = (f(&up) - f(&down)) / (2.0 * h);
        assert!(
            (numeric - grad[i]).abs() < 2e-3 + 1e-2 * grad[i].abs(),
            "{what}[{i}]: analytic {} numeric {numeric}",
            grad[i]
        );
    }
}

#[test]
fn logit_loss_gradients_match_finite_differences() {
    let losses = [
        DistillLoss::soft_target(3.0).unwrap(),
        DistillLoss::Mutual,
        DistillLoss::Logits,
        DistillLoss::decoupled_kd(4.0, 1.0, 8.0).unwrap(),
        DistillLoss::DecoupledKd { temperature: 2.0, alpha: 0.5, beta: 2.0, normalize: true },
    ];
    for loss in losses {
        let p = logits(&P);
        let g = loss.loss(p.leaky_trace(), &logits(&Q), Some(&Y)).unwrap().backward().get(&p).as_vec();
        check_gradient(loss.name(), &P, &g, |x| logit_value(loss, x));
    }
}

#[test]
fn no_gradient_reaches_the_teacher() {
    // The teacher has no tape: its logits are constants, only the student gets a gradient.
    let (p, q) = (logits(&P), logits(&Q));
    let mut grads = DistillLoss::Logits.loss(p.leaky_trace(), &q, None).unwrap().backward();
    assert!(grads.get(&p).as_vec().iter().any(|&g| g != 0.0));
    // Allocates zeros if the teacher never got a gradient entry.
    let teacher_grad: &mut [f32] = grads.get_or_alloc_mut(&q).unwrap();
    assert!(teacher_grad.iter().all(|&g| g == 0.0));
}

fn feature_value(loss: DistillLoss, s: &[f32], teacher: &[f32], tshape: (usize, usize, usize, usize)) -> f32 {
    let student = fmap(s, (2, 2, 2, 2)).leaky_trace();
    loss.feature_loss(vec![student], &[fmap(teacher, tshape)]).unwrap().array()
}

#[test]
fn feature_losses_match_the_script() {
    let wide = (2, 3, 2, 2);
    let same = (2, 2, 2, 2);
    close(feature_value(DistillLoss::attention(2).unwrap(), &fs(), &ft(), wide), 0.07208295754411864, "Attention p=2");
    close(feature_value(DistillLoss::attention(1).unwrap(), &fs(), &ft(), wide), 0.4451872991436869, "Attention p=1");
    close(feature_value(DistillLoss::Similarity, &fs(), &ft(), wide), 0.011778111566120896, "Similarity");
    close(feature_value(DistillLoss::FitNet, &fs(), &ft2(), same), 1.09375, "FitNet");
    close(feature_value(DistillLoss::activation_boundaries(2.0).unwrap(), &fs(), &ft2(), same), 4.28125, "AB m=2");
    close(feature_value(DistillLoss::activation_boundaries(0.5).unwrap(), &fs(), &ft2(), same), 0.65625, "AB m=0.5");
}

#[test]
fn feature_losses_sum_over_pairs() {
    let s1 = fmap(&fs(), (2, 2, 2, 2)).leaky_trace();
    let doubled: Vec<f32> = fs().iter().map(|x| 2.0 * x).collect();
    let s2 = fmap(&doubled, (2, 2, 2, 2)).leaky_trace();
    let t = [fmap(&ft2(), (2, 2, 2, 2)), fmap(&ft2(), (2, 2, 2, 2))];
    let loss = DistillLoss::FitNet.feature_loss(vec![s1, s2], &t).unwrap();
    close(loss.array(), 3.65625, "FitNet over two pairs");
}

#[test]
fn feature_loss_gradients_match_finite_differences() {
    let cases = [
        (DistillLoss::attention(2).unwrap(), ft(), (2, 3, 2, 2)),
        (DistillLoss::attention(1).unwrap(), ft(), (2, 3, 2, 2)),
        (DistillLoss::Similarity, ft(), (2, 3, 2, 2)),
        (DistillLoss::FitNet, ft2(), (2, 2, 2, 2)),
        (DistillLoss::activation_boundaries(2.0).unwrap(), ft2(), (2, 2, 2, 2)),
    ];
    // Move the student off the points where attention maps or indicators have kinks.
    let x: Vec<f32> = fs().iter().enumerate().map(|(i, v)| v + 0.05 * (i as f32 + 1.0)).collect();
    for (loss, teacher, tshape) in cases {
        let s = fmap(&x, (2, 2, 2, 2));
        let t = fmap(&teacher, tshape);
        let g = loss.feature_loss(vec![s.leaky_trace()], &[t]).unwrap().backward().get(&s).as_vec();
        check_gradient(loss.name(), &x, &g, |v| feature_value(loss, v, &teacher, tshape));
    }
}

#[test]
fn an_all_zero_attention_map_has_a_finite_gradient() {
    let s = fmap(&[0.0; 16], (2, 2, 2, 2));
    let g =
        DistillLoss::attention(2).unwrap().feature_loss(vec![s.leaky_trace()], &[fmap(&ft(), (2, 3, 2, 2))]).unwrap();
    assert!(g.array().is_finite());
    assert!(g.backward().get(&s).as_vec().iter().all(|v| v.is_finite()));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let st = || logits(&P).leaky_trace();
    // Shapes.
    let q4 = dev().tensor_from_vec(vec![0.0f32; 8], (2, 4));
    assert!(matches!(DistillLoss::Logits.loss(st(), &q4, None), Err(CompressError::ShapeMismatch { .. })));
    // Targets.
    let dkd = DistillLoss::decoupled_kd(4.0, 1.0, 8.0).unwrap();
    let missing = dkd.loss(st(), &logits(&Q), None).unwrap_err();
    assert!(missing.to_string().contains("SoftTarget"), "{missing}");
    assert!(matches!(dkd.loss(st(), &logits(&Q), Some(&[0])), Err(CompressError::BadTargets { .. })));
    let out_of_range = dkd.loss(st(), &logits(&Q), Some(&[0, 3])).unwrap_err();
    assert!(out_of_range.to_string().contains("class 3"), "{out_of_range}");
    // Parameters.
    assert!(matches!(DistillLoss::soft_target(0.0), Err(CompressError::BadParameter { what: "temperature", .. })));
    assert!(DistillLoss::decoupled_kd(4.0, -1.0, 8.0).is_err());
    assert!(DistillLoss::attention(0).is_err());
    assert!(DistillLoss::activation_boundaries(f32::NAN).is_err());
    let unchecked = DistillLoss::SoftTarget { temperature: -2.0 };
    assert!(unchecked.loss(st(), &logits(&Q), None).is_err(), "checked again at use");
    // Logit loss on features and the other way round.
    let s = || fmap(&fs(), (2, 2, 2, 2)).leaky_trace();
    assert!(matches!(
        DistillLoss::Mutual.feature_loss(vec![s()], &[fmap(&ft2(), (2, 2, 2, 2))]),
        Err(CompressError::WrongInputs { .. })
    ));
    assert!(matches!(DistillLoss::FitNet.loss(st(), &logits(&Q), None), Err(CompressError::WrongInputs { .. })));
    // Pairs.
    assert!(DistillLoss::FitNet.feature_loss(vec![], &[]).is_err());
    assert!(DistillLoss::FitNet.feature_loss(vec![s()], &[fmap(&ft(), (2, 3, 2, 2))]).is_err());
    let small = fmap(&[0.0; 6], (2, 3, 1, 1));
    let err = DistillLoss::attention(2).unwrap().feature_loss(vec![s()], &[small]).unwrap_err();
    assert!(err.to_string().contains("spatial size"), "{err}");
    assert!(DistillLoss::Similarity.is_feature_loss() && !DistillLoss::Logits.is_feature_loss());
    assert!(dkd.needs_targets() && !DistillLoss::Mutual.needs_targets());
}

#[test]
fn a_tapped_activation_passes_its_gradient_back_through_the_forward_tape() {
    // Forward: h = 2·w, task = mean(h²); h is tapped for FitNet against t. Total = task + FitNet.
    // d task/dw = 2·2·(2w)/16 = w/2; d FitNet/dw = 2·2·(2w − t)/16 = (2w − t)/4.
    let w_vals = fs();
    let t_vals = ft2();
    let w = fmap(&w_vals, (2, 2, 2, 2));
    let h = w.leaky_trace().try_mul(2.0).unwrap();
    let (h, tape) = h.split_tape();
    let tapped: FeatureMap<Traced> = h.retaped();
    let task = h.put_tape(tape).square().mean();
    let kd = DistillLoss::FitNet.feature_loss(vec![tapped], &[fmap(&t_vals, (2, 2, 2, 2))]).unwrap();
    let g = (task + kd).backward().get(&w).as_vec();
    for (i, ((&g, &w), &t)) in g.iter().zip(&w_vals).zip(&t_vals).enumerate() {
        let want = w / 2.0 + (2.0 * w - t) / 4.0;
        assert!((g - want).abs() < 1e-6, "dL/dw[{i}]: got {g}, want {want}");
    }
}
