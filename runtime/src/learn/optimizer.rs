//! The optimizers the learner drives: dfdx's Adam (default, with fastai's settings) and SGD.

use dfdx::optim::{Adam, Optimizer as _, OptimizerUpdateError, Sgd};
use dfdx::prelude::{Cpu, Gradients, TensorCollection};
use dfdx::tensor_ops::{AdamConfig, Momentum, SgdConfig, WeightDecay};

use super::LearnError;

/// Which optimizer to train with, and its settings. The learning rate and, under one-cycle, the
/// momentum are overwritten before every step by the fit's schedule.
///
/// The default is [`OptimizerConfig::fastai_adam`].
///
/// ```
/// use fasterai_runtime::learn::OptimizerConfig;
/// let sgd = OptimizerConfig::sgd_momentum(0.9);
/// assert_eq!(sgd.momentum(), Some(0.9));
/// assert_eq!(OptimizerConfig::default().momentum(), Some(0.9));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum OptimizerConfig {
    /// dfdx's Adam.
    Adam(AdamConfig),
    /// dfdx's stochastic gradient descent.
    Sgd(SgdConfig),
}

impl OptimizerConfig {
    /// Adam as fastai configures it by default (`fastai.optimizer.Adam`): β = (0.9, 0.99),
    /// ε = 1e-5 and decoupled ("true") weight decay 0.01.
    ///
    /// These differ on purpose from PyTorch's (β2 = 0.999, ε = 1e-8, no decay): fastai's one-cycle
    /// recipe was tuned with them, and the larger ε keeps early steps tame. One difference with
    /// fastai remains: fastai exempts BatchNorm and bias parameters from weight decay by default,
    /// while dfdx's Adam decays every trainable tensor alike; at lr·wd ≈ 1e-5 per step the
    /// effect on those few parameters is negligible.
    pub fn fastai_adam() -> Self {
        Self::Adam(AdamConfig {
            lr: 1e-3,
            betas: [0.9, 0.99],
            eps: 1e-5,
            weight_decay: Some(WeightDecay::Decoupled(0.01)),
        })
    }

    /// SGD with classic momentum `momentum` and no weight decay.
    pub fn sgd_momentum(momentum: f64) -> Self {
        Self::Sgd(SgdConfig { lr: 1e-2, momentum: Some(Momentum::Classic(momentum)), weight_decay: None })
    }

    /// The same optimizer without weight decay.
    pub fn without_weight_decay(self) -> Self {
        match self {
            Self::Adam(cfg) => Self::Adam(AdamConfig { weight_decay: None, ..cfg }),
            Self::Sgd(cfg) => Self::Sgd(SgdConfig { weight_decay: None, ..cfg }),
        }
    }

    /// The configured momentum (Adam's β1, SGD's momentum), `None` for SGD without momentum.
    pub fn momentum(&self) -> Option<f64> {
        match self {
            Self::Adam(cfg) => Some(cfg.betas[0]),
            Self::Sgd(cfg) => match cfg.momentum {
                Some(Momentum::Classic(m) | Momentum::Nesterov(m)) => Some(m),
                None => None,
            },
        }
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::fastai_adam()
    }
}

/// A live optimizer with its state (moments, velocities) for model type `M`.
pub(crate) struct LiveOptimizer<M> {
    config: OptimizerConfig,
    state: State<M>,
}

enum State<M> {
    Adam(Adam<M, f32, Cpu>),
    Sgd(Sgd<M, f32, Cpu>),
}

impl<M: TensorCollection<f32, Cpu>> LiveOptimizer<M> {
    pub(crate) fn new(model: &M, config: OptimizerConfig) -> Self {
        let state = match config {
            OptimizerConfig::Adam(cfg) => State::Adam(Adam::new(model, cfg)),
            OptimizerConfig::Sgd(cfg) => State::Sgd(Sgd::new(model, cfg)),
        };
        Self { config, state }
    }

    pub(crate) fn config(&self) -> OptimizerConfig {
        self.config
    }

    /// Sets the learning rate, and the momentum when `momentum` is given (else the configured one).
    /// SGD configured without momentum stays without.
    pub(crate) fn set_hyper(&mut self, lr: f64, momentum: Option<f64>) {
        let momentum = momentum.or(self.config.momentum());
        match (&mut self.state, self.config) {
            (State::Adam(opt), OptimizerConfig::Adam(base)) => {
                opt.cfg.lr = lr;
                opt.cfg.betas = [momentum.unwrap_or(base.betas[0]), base.betas[1]];
            }
            (State::Sgd(opt), OptimizerConfig::Sgd(base)) => {
                opt.cfg.lr = lr;
                opt.cfg.momentum = match (base.momentum, momentum) {
                    (Some(Momentum::Classic(_)), Some(m)) => Some(Momentum::Classic(m)),
                    (Some(Momentum::Nesterov(_)), Some(m)) => Some(Momentum::Nesterov(m)),
                    (other, _) => other,
                };
            }
            _ => unreachable!("the state is built from the config"),
        }
    }

    /// The learning rate and momentum the next step will use.
    pub(crate) fn hyper(&self) -> (f64, Option<f64>) {
        match &self.state {
            State::Adam(opt) => (opt.cfg.lr, Some(opt.cfg.betas[0])),
            State::Sgd(opt) => (
                opt.cfg.lr,
                match opt.cfg.momentum {
                    Some(Momentum::Classic(m) | Momentum::Nesterov(m)) => Some(m),
                    None => None,
                },
            ),
        }
    }

    /// One optimizer step. Parameters without a gradient (not used by the loss) are left as they
    /// are: dfdx reports them after updating all the others, which is not a failure here.
    pub(crate) fn step(&mut self, model: &mut M, grads: &Gradients<f32, Cpu>) -> Result<(), LearnError> {
        let result = match &mut self.state {
            State::Adam(opt) => opt.update(model, grads),
            State::Sgd(opt) => opt.update(model, grads),
        };
        match result {
            Ok(()) | Err(OptimizerUpdateError::UnusedParams(_)) => Ok(()),
            Err(OptimizerUpdateError::DeviceError(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn set_hyper_overrides_lr_and_momentum_and_restores_the_base_momentum() {
        let dev = Cpu::seed_from_u64(0);
        let model = dev.build_module::<Linear<2, 2>, f32>();
        for (config, expected_base) in [
            (OptimizerConfig::fastai_adam(), Some(0.9)),
            (OptimizerConfig::sgd_momentum(0.8), Some(0.8)),
            (OptimizerConfig::Sgd(SgdConfig::default()), None),
        ] {
            let mut opt = LiveOptimizer::new(&model, config);
            opt.set_hyper(0.5, Some(0.95));
            let cycled = if expected_base.is_some() { Some(0.95) } else { None };
            assert_eq!(opt.hyper(), (0.5, cycled), "{config:?}: one-cycle momentum applies when the optimizer has one");
            opt.set_hyper(0.25, None);
            assert_eq!(opt.hyper(), (0.25, expected_base), "{config:?}: a constant fit uses the configured momentum");
        }
    }

    #[test]
    fn a_step_moves_weights_against_the_gradient() {
        let dev = Cpu::seed_from_u64(0);
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        let before = model.weight.as_vec();
        let mut opt = LiveOptimizer::new(&model, OptimizerConfig::Sgd(SgdConfig::default()));
        opt.set_hyper(0.1, None);
        let x = dev.tensor([[1.0f32, 2.0]]);
        let grads = model.forward(x.leaky_trace()).sum().backward();
        opt.step(&mut model, &grads).unwrap();
        // d(sum(w·x + b))/dw = x, so SGD subtracts 0.1·x.
        let after = model.weight.as_vec();
        assert!((before[0] - after[0] - 0.1).abs() < 1e-6);
        assert!((before[1] - after[1] - 0.2).abs() < 1e-6);
    }
}
