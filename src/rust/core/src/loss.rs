//! The two GAN losses, defined once as per-score terms and their derivatives: the
//! explicit CPU engine uses the scalar forms, candle's autograd the tensor forms.
//!
//! The critic is trained so that real rows score high and generated rows low; the
//! generator so that its rows score like real ones. Each loss is a sum of terms
//! `critic_real(d)` over real scores, `critic_fake(d)` over generated scores, and
//! `generator(d)` over generated scores in the generator update.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Wasserstein loss with gradient penalty.
    WganGp,
    /// The standard (non-saturating) GAN loss.
    Gan,
}

impl Loss {
    /// Whether the critic update adds the gradient penalty.
    pub fn has_penalty(self) -> bool {
        self == Loss::WganGp
    }

    /// A real row's term in the critic loss: `-d`, or `softplus(-d)`.
    pub fn critic_real(self, d: f32) -> f64 {
        match self {
            Loss::WganGp => -f64::from(d),
            Loss::Gan => f64::from(softplus(-d)),
        }
    }

    /// A generated row's term in the critic loss: `d`, or `softplus(d)`.
    pub fn critic_fake(self, d: f32) -> f64 {
        match self {
            Loss::WganGp => f64::from(d),
            Loss::Gan => f64::from(softplus(d)),
        }
    }

    /// A generated row's term in the generator loss: that of a real row to the critic.
    pub fn generator(self, d: f32) -> f64 {
        self.critic_real(d)
    }

    /// Derivative of [`Self::critic_real`]: `-1`, or `-sigmoid(-d)`.
    pub fn d_critic_real(self, d: f32) -> f32 {
        match self {
            Loss::WganGp => -1.0,
            Loss::Gan => -sigmoid(-d),
        }
    }

    /// Derivative of [`Self::critic_fake`]: `1`, or `sigmoid(d)`.
    pub fn d_critic_fake(self, d: f32) -> f32 {
        match self {
            Loss::WganGp => 1.0,
            Loss::Gan => sigmoid(d),
        }
    }

    /// Derivative of [`Self::generator`].
    pub fn d_generator(self, d: f32) -> f32 {
        self.d_critic_real(d)
    }

    /// [`Self::critic_real`] of every score.
    pub fn critic_real_terms(self, d: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Loss::WganGp => d.neg()?,
            Loss::Gan => softplus_tensor(&d.neg()?)?,
        })
    }

    /// [`Self::critic_fake`] of every score.
    pub fn critic_fake_terms(self, d: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Loss::WganGp => d.clone(),
            Loss::Gan => softplus_tensor(d)?,
        })
    }

    /// The critic loss of real scores `d_real` and generated scores `d_fake`, summed.
    pub fn critic_sum(self, d_real: &Tensor, d_fake: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Loss::WganGp => (d_fake.sum_all()? - d_real.sum_all()?)?,
            Loss::Gan => {
                (self.critic_real_terms(d_real)?.sum_all()?
                    + self.critic_fake_terms(d_fake)?.sum_all()?)?
            }
        })
    }

    /// The generator loss of generated scores `d`, summed.
    pub fn generator_sum(self, d: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Loss::WganGp => d.sum_all()?.neg()?,
            Loss::Gan => softplus_tensor(&d.neg()?)?.sum_all()?,
        })
    }

    /// The generator loss of generated scores `d`, averaged.
    pub fn generator_mean(self, d: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Loss::WganGp => d.mean_all()?.neg()?,
            Loss::Gan => softplus_tensor(&d.neg()?)?.mean_all()?,
        })
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn softplus_tensor(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences_and_tensors_match_scalars() {
        let scores = [-3.0f32, -0.4, 0.0, 0.7, 2.5];
        let t = Tensor::new(&scores, &candle_core::Device::Cpu).unwrap();
        for loss in [Loss::WganGp, Loss::Gan] {
            let h = 1e-3f32;
            for &d in &scores {
                let numeric = |f: fn(Loss, f32) -> f64| {
                    ((f(loss, d + h) - f(loss, d - h)) / (2.0 * f64::from(h))) as f32
                };
                assert!((numeric(Loss::critic_real) - loss.d_critic_real(d)).abs() < 1e-3);
                assert!((numeric(Loss::critic_fake) - loss.d_critic_fake(d)).abs() < 1e-3);
                assert!((numeric(Loss::generator) - loss.d_generator(d)).abs() < 1e-3);
            }
            type Terms = fn(Loss, &Tensor) -> Result<Tensor>;
            type Term = fn(Loss, f32) -> f64;
            let pairs: [(Terms, Term); 2] = [
                (Loss::critic_real_terms, Loss::critic_real),
                (Loss::critic_fake_terms, Loss::critic_fake),
            ];
            for (terms, term) in pairs {
                let got = terms(loss, &t).unwrap().to_vec1::<f32>().unwrap();
                for (g, &d) in got.iter().zip(&scores) {
                    assert!((f64::from(*g) - term(loss, d)).abs() < 1e-6, "{loss:?} {d}");
                }
            }
            let sum =
                |f: fn(Loss, f32) -> f64, d: &[f32]| d.iter().map(|&x| f(loss, x)).sum::<f64>();
            let scalar = |t: Tensor| f64::from(t.to_scalar::<f32>().unwrap());
            let (real, fake) = (&t, &t.affine(0.5, 1.0).unwrap());
            let fake_scores = fake.to_vec1::<f32>().unwrap();
            let critic = sum(Loss::critic_real, &scores) + sum(Loss::critic_fake, &fake_scores);
            assert!((scalar(loss.critic_sum(real, fake).unwrap()) - critic).abs() < 1e-5);
            let generator = sum(Loss::generator, &scores);
            assert!((scalar(loss.generator_sum(&t).unwrap()) - generator).abs() < 1e-5);
            assert!((scalar(loss.generator_mean(&t).unwrap()) - generator / 5.0).abs() < 1e-5);
        }
    }
}
