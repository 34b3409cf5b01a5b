//! The R binding of sygnet-core: converts R values and errors, does no modelling.
//!
//! Errors reach R as messages of the form `sygnet:<kind>:<message>`; the R layer turns
//! the kind into a condition class.

use extendr_api::prelude::*;
use sygnet_core::config::{TrainConfig, ATTENTION_TOKENS};
use sygnet_core::device::{self, Device};
use sygnet_core::diagnostic;
use sygnet_core::distance::{self, Feature};
use sygnet_core::encoding::{ColumnCodes, EncoderOptions, NumericEncoding, Transform};
use sygnet_core::loss::Loss;
use sygnet_core::model::Model;
use sygnet_core::network::GENERATOR;
use sygnet_core::privacy::{accountant, Bound, Levels, PrivacyConfig};
use sygnet_core::rng::RandomSource;
use sygnet_core::sample;
use sygnet_core::train::Trainer;

mod convert;

/// Training allocates and frees many tensor buffers of a few hundred kilobytes per step.
/// glibc would hand each back to the kernel and fault in fresh pages every step (a third
/// of the run time went there); larger thresholds keep them for reuse. Process-wide and
/// set once; other allocations are unaffected apart from being reused more.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        });
    }
}

type Result<T> = std::result::Result<T, extendr_api::Error>;

fn fail(e: sygnet_core::Error) -> extendr_api::Error {
    extendr_api::Error::Other(format!("sygnet:{}:{}", e.kind(), e))
}

fn config_error(msg: String) -> extendr_api::Error {
    fail(sygnet_core::Error::Config(msg))
}

/// Reads a named element of an R list.
fn field(list: &List, name: &str) -> Result<Robj> {
    list.dollar(name)
        .ok()
        .filter(|r| !r.is_null())
        .ok_or_else(|| config_error(format!("setting `{name}` is missing")))
}

/// A numeric (double or integer) R vector as f64s.
fn numbers(robj: &Robj) -> Option<Vec<f64>> {
    robj.as_real_vector().or_else(|| {
        robj.as_integer_slice()
            .map(|v| v.iter().map(|&x| f64::from(x)).collect())
    })
}

fn number(list: &List, name: &str) -> Result<f64> {
    match numbers(&field(list, name)?).as_deref() {
        Some([x]) => Ok(*x),
        _ => Err(config_error(format!(
            "setting `{name}` must be a single number"
        ))),
    }
}

fn count(list: &List, name: &str) -> Result<usize> {
    let x = number(list, name)?;
    if x < 0.0 || x.fract() != 0.0 {
        return Err(config_error(format!(
            "setting `{name}` must be a whole number"
        )));
    }
    Ok(x as usize)
}

fn flag(list: &List, name: &str) -> Result<bool> {
    match field(list, name)?.as_logical_slice() {
        Some([b]) if !b.is_na() => Ok(b.is_true()),
        _ => Err(config_error(format!("`{name}` must be TRUE or FALSE"))),
    }
}

fn widths(list: &List, name: &str) -> Result<Vec<usize>> {
    let v = numbers(&field(list, name)?)
        .ok_or_else(|| config_error(format!("setting `{name}` must be numeric")))?;
    if v.is_empty() || v.iter().any(|&x| !(x >= 1.0 && x.fract() == 0.0)) {
        return Err(config_error(format!(
            "`{name}` must be layer widths: whole numbers of at least 1, e.g. c(256, 256)"
        )));
    }
    Ok(v.into_iter().map(|x| x as usize).collect())
}

fn train_config(cfg: &List) -> Result<TrainConfig> {
    let loss = match field(cfg, "loss")?.as_str() {
        Some("wgan-gp") => Loss::WganGp,
        Some("gan") => Loss::Gan,
        _ => return Err(config_error("`loss` must be \"wgan-gp\" or \"gan\"".into())),
    };
    let numeric = match field(cfg, "numeric_encoding")?.as_str() {
        Some("modes") => NumericEncoding::Modes,
        Some("minmax") => NumericEncoding::MinMax,
        _ => {
            return Err(config_error(
                "`numeric_encoding` must be \"modes\" or \"minmax\"".into(),
            ))
        }
    };
    let condition_on: Vec<String> = match cfg.dollar("condition_on") {
        Ok(r) if !r.is_null() => r
            .as_str_iter()
            .ok_or_else(|| config_error("`condition_on` must be a character vector".into()))?
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(TrainConfig {
        batch_size: count(cfg, "batch_size")?,
        noise_dim: count(cfg, "noise_dim")?,
        generator: widths(cfg, "generator")?,
        critic: widths(cfg, "critic")?,
        attention_tokens: match (count(cfg, "attention_tokens")?, flag(cfg, "attention")?) {
            (0, _) => {
                return Err(config_error(
                    "`attention_tokens` must be a whole number of at least 1".into(),
                ))
            }
            (tokens, true) => tokens,
            (_, false) => 0,
        },
        attention_heads: count(cfg, "attention_heads")?,
        generator_dropout: number(cfg, "generator_dropout")? as f32,
        critic_dropout: number(cfg, "critic_dropout")? as f32,
        learning_rate: number(cfg, "learning_rate")?,
        beta1: number(cfg, "beta1")?,
        beta2: number(cfg, "beta2")?,
        weight_decay: number(cfg, "weight_decay")?,
        loss,
        pac: count(cfg, "pac")?,
        critic_steps: count(cfg, "critic_steps")?,
        gradient_penalty: number(cfg, "gradient_penalty")?,
        tau: number(cfg, "tau")?,
        condition_on,
        encoder: EncoderOptions {
            numeric,
            max_modes: count(cfg, "max_modes")?,
            max_levels: count(cfg, "max_levels")?,
            codes: missing_codes(cfg)?,
        },
        privacy: match cfg.dollar("privacy") {
            Ok(p) if !p.is_null() => Some(privacy_config(&p)?),
            _ => None,
        },
        rejection: flag(cfg, "rejection")?,
    })
}

/// `missing_codes`: NULL or a list of numeric vectors named by column.
fn missing_codes(cfg: &List) -> Result<Vec<ColumnCodes>> {
    let list = match cfg.dollar("missing_codes") {
        Ok(r) if !r.is_null() => r
            .as_list()
            .ok_or_else(|| config_error("`missing_codes` must be a named list".into()))?,
        _ => return Ok(Vec::new()),
    };
    list.iter()
        .map(|(column, value)| {
            Ok(ColumnCodes {
                column: column.to_string(),
                values: numbers(&value).ok_or_else(|| {
                    config_error(format!("missing-value codes of `{column}` must be numbers"))
                })?,
            })
        })
        .collect()
}

fn privacy_config(robj: &Robj) -> Result<PrivacyConfig> {
    let p = robj
        .as_list()
        .ok_or_else(|| config_error("`privacy` must be a list".into()))?;
    let noise_multiplier = match p.dollar("noise_multiplier") {
        Ok(r) if !r.is_null() => Some(number(&p, "noise_multiplier")?),
        _ => None,
    };
    let bounds_list = field(&p, "bounds")?
        .as_list()
        .ok_or_else(|| config_error("`bounds` must be a named list".into()))?;
    let mut bounds = Vec::with_capacity(bounds_list.len());
    for (column, value) in bounds_list.iter() {
        match numbers(&value).as_deref() {
            Some(&[lower, upper]) => bounds.push(Bound {
                column: column.to_string(),
                lower,
                upper,
            }),
            _ => {
                return Err(config_error(format!(
                    "bounds of `{column}` must be two numbers"
                )))
            }
        }
    }
    let levels_list = field(&p, "levels")?
        .as_list()
        .ok_or_else(|| config_error("`levels` must be a named list".into()))?;
    let mut levels = Vec::with_capacity(levels_list.len());
    for (column, value) in levels_list.iter() {
        let declared = value
            .as_str_iter()
            .ok_or_else(|| config_error(format!("levels of `{column}` must be strings")))?
            .map(str::to_string)
            .collect();
        levels.push(Levels {
            column: column.to_string(),
            levels: declared,
        });
    }
    Ok(PrivacyConfig {
        epsilon: number(&p, "epsilon")?,
        delta: number(&p, "delta")?,
        max_grad_norm: number(&p, "max_grad_norm")?,
        noise_multiplier,
        epochs: count(&p, "epochs")?,
        bounds,
        levels,
        sample_rate: 0.0,
        max_steps: 0,
        steps_taken: 0,
        rows: match p.dollar("rows") {
            Ok(r) if !r.is_null() => Some(count(&p, "rows")?),
            _ => None,
        },
        marginal_share: number(&p, "marginal_share")?,
        marginal_noise: None,
        moment_share: number(&p, "moment_share")?,
        moment_noise: None,
    })
}

/// The defaults of `gan()` and `gan_control()`, named as their arguments.
/// @noRd
#[extendr]
fn rs_gan_defaults() -> List {
    let d = TrainConfig::default();
    let loss = match d.loss {
        Loss::WganGp => "wgan-gp",
        Loss::Gan => "gan",
    };
    let numeric_encoding = match d.encoder.numeric {
        NumericEncoding::Modes => "modes",
        NumericEncoding::MinMax => "minmax",
    };
    let ints = |v: &[usize]| v.iter().map(|&w| w as i32).collect::<Vec<_>>();
    list!(
        batch_size = d.batch_size as i32,
        generator = ints(&d.generator),
        critic = ints(&d.critic),
        dropout = f64::from(d.generator_dropout),
        learning_rate = d.learning_rate,
        loss = loss,
        noise_dim = d.noise_dim as i32,
        pac = d.pac as i32,
        critic_steps = d.critic_steps as i32,
        gradient_penalty = d.gradient_penalty,
        critic_dropout = f64::from(d.critic_dropout),
        tau = d.tau,
        beta1 = d.beta1,
        beta2 = d.beta2,
        weight_decay = d.weight_decay,
        numeric_encoding = numeric_encoding,
        max_modes = d.encoder.max_modes as i32,
        max_levels = d.encoder.max_levels as i32,
        attention_tokens = ATTENTION_TOKENS as i32,
        attention_heads = d.attention_heads as i32,
        rejection = d.rejection
    )
}

/// Checks a complete set of settings (as `engine_config()` builds them).
/// @noRd
#[extendr]
fn rs_check_settings(config: List) -> Result<()> {
    train_config(&config)?.check().map_err(fail)
}

/// A fit's privacy settings and the epsilon its critic updates spent, or NULL.
fn privacy_report(config: &TrainConfig) -> Result<Robj> {
    let Some(p) = &config.privacy else {
        return Ok(Robj::from(()));
    };
    Ok(list!(
        epsilon = p.epsilon,
        epsilon_spent = p.epsilon_spent().map_err(fail)?,
        delta = p.delta,
        noise_multiplier = p.noise_multiplier.unwrap_or(f64::NAN),
        marginal_share = p.marginal_share,
        marginal_noise = p.marginal_noise.unwrap_or(f64::NAN),
        moment_share = p.moment_share,
        moment_noise = p.moment_noise.unwrap_or(f64::NAN),
        max_grad_norm = p.max_grad_norm,
        sample_rate = p.sample_rate,
        critic_updates = p.steps_taken as f64,
        max_critic_updates = p.max_steps as f64
    )
    .into())
}

fn device_of(name: &str) -> Result<Device> {
    device::resolve(name).map_err(fail)
}

/// Copies an R data frame into the core representation and back.
/// @noRd
#[extendr]
fn rs_roundtrip(data: List, n_rows: i32) -> Result<List> {
    let table = convert::table_from_r(&data, n_rows as usize).map_err(fail)?;
    convert::table_to_r(table)
}

/// Panics on purpose: lets the tests check that a Rust panic becomes an R error.
/// @noRd
#[extendr]
fn rs_panic_probe() {
    panic!("deliberate panic for testing");
}

/// Whether this build has CUDA support.
/// @noRd
#[extendr]
fn rs_cuda_compiled() -> bool {
    device::cuda_compiled()
}

/// A training session, alive only during `fit()`.
struct Session {
    trainer: Trainer,
    device: &'static str,
}

/// Starts training: a new model, or continuing `model` (raw bytes) when not NULL.
/// `seed_value` NULL draws every random number from the operating system's generator
/// (private fits); a private fit refuses a seed.
/// @noRd
#[extendr]
fn rs_session_new(
    data: List,
    n_rows: i32,
    config: List,
    model: Robj,
    seed_value: Robj,
    threads: i32,
    device_name: &str,
) -> Result<ExternalPtr<Session>> {
    tune_allocator();
    let config = train_config(&config)?;
    let source = if seed_value.is_null() {
        RandomSource::System
    } else if config.privacy.is_some() {
        return Err(config_error(
            "a differentially private fit takes no seed: its noise must not be replayable".into(),
        ));
    } else {
        RandomSource::Seed(
            seed_value
                .as_real()
                .ok_or_else(|| config_error("`seed` must be a number".into()))? as u64,
        )
    };
    let table = if config.privacy.is_some() {
        convert::table_from_r_private(&data, n_rows as usize)
    } else {
        convert::table_from_r(&data, n_rows as usize)
    }
    .map_err(fail)?;
    let dev = device_of(device_name)?;
    let threads = threads.max(1) as usize;
    let trainer = if model.is_null() {
        Trainer::new(&table, config, source, threads, dev.clone())
    } else {
        let bytes = Raw::try_from(model)?;
        let model = Model::from_bytes(bytes.as_slice(), &dev).map_err(fail)?;
        Trainer::resume(&model, &table, source, threads, dev.clone())
    }
    .map_err(fail)?;
    Ok(ExternalPtr::new(Session {
        trainer,
        device: device::name(&dev),
    }))
}

/// Steps per epoch, the rows per step and the device actually used.
/// @noRd
#[extendr]
fn rs_session_info(session: ExternalPtr<Session>) -> Result<List> {
    Ok(list!(
        steps_per_epoch = session.trainer.steps_per_epoch() as f64,
        batch_size = session.trainer.batch_size() as f64,
        device = session.device,
        privacy = privacy_report(session.trainer.config())?
    ))
}

/// Runs `steps` training steps; returns a matrix of per-step losses.
/// @noRd
#[extendr]
fn rs_session_train(mut session: ExternalPtr<Session>, steps: i32) -> Result<Robj> {
    let losses = session.trainer.train(steps.max(0) as usize).map_err(fail)?;
    let mut values = Vec::with_capacity(losses.len() * 3);
    values.extend(losses.iter().map(|l| f64::from(l.critic)));
    values.extend(losses.iter().map(|l| f64::from(l.generator)));
    values.extend(losses.iter().map(|l| f64::from(l.score_gap)));
    let matrix = RMatrix::new_matrix(losses.len(), 3, |r, c| values[c * losses.len() + r]);
    Ok(matrix.into())
}

/// Fits the rejection sampler to the session's training rows and current generator.
/// @noRd
#[extendr]
fn rs_session_fit_rejection(mut session: ExternalPtr<Session>) -> Result<()> {
    session.trainer.fit_rejection().map_err(fail)
}

/// Weights the session's training rows (survey weights).
/// @noRd
#[extendr]
fn rs_session_weight_rows(mut session: ExternalPtr<Session>, weights: &[f64]) -> Result<()> {
    session.trainer.weight_rows(weights).map_err(fail)
}

/// Ends a private session: calibrates its generator to the released marginals, then
/// releases feature means and tilts the draws towards them.
/// @noRd
#[extendr]
fn rs_session_calibrate(mut session: ExternalPtr<Session>) -> Result<()> {
    session.trainer.finish_private().map_err(fail)
}

/// The session's current model as safetensors bytes.
/// @noRd
#[extendr]
fn rs_session_model(session: ExternalPtr<Session>) -> Result<Raw> {
    let model = session.trainer.model().map_err(fail)?;
    Ok(Raw::from_bytes(&model.to_bytes().map_err(fail)?))
}

/// A model parsed from its bytes once, for repeated draws on the CPU.
struct LoadedModel(Model);

/// Parses and checks a model for the CPU, for [`rs_synthesize`].
/// @noRd
#[extendr]
fn rs_model_load(model: Raw) -> Result<ExternalPtr<LoadedModel>> {
    let model = Model::from_bytes(model.as_slice(), &Device::Cpu).map_err(fail)?;
    Ok(ExternalPtr::new(LoadedModel(model)))
}

/// The model `model` holds: its bytes, parsed for `dev`, or a CPU model from
/// [`rs_model_load`].
fn model_of(model: Robj, dev: &Device) -> Result<Model> {
    if let Ok(bytes) = Raw::try_from(&model) {
        return Model::from_bytes(bytes.as_slice(), dev).map_err(fail);
    }
    let loaded = ExternalPtr::<LoadedModel>::try_from(&model)
        .map_err(|_| config_error("a model is its bytes or a loaded model".into()))?;
    if !dev.is_cpu() {
        return Err(config_error("a loaded model is for the CPU".into()));
    }
    Ok(loaded.0.clone())
}

/// Draws rows `start..end` of the `n` rows a model gives for `seed` (the same rows in any
/// pieces); `model` is the model's bytes or, on the CPU, the model loaded by
/// `rs_model_load`; `conditions` is NULL or a data frame with `n` rows; `screened` uses
/// the model's rejection sampler, if it has one, and `balanced` its balancing of drawn
/// rows.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rs_synthesize(
    model: Robj,
    n: f64,
    start: f64,
    end: f64,
    conditions: Robj,
    seed_value: f64,
    threads: i32,
    device_name: &str,
    screened: bool,
    balanced: bool,
) -> Result<List> {
    tune_allocator();
    let dev = device_of(device_name)?;
    let mut model = model_of(model, &dev)?;
    if !screened {
        model.rejection = None;
    }
    if let Some(spec) = model.rejection.as_mut().filter(|_| !balanced) {
        spec.unbalanced();
    }
    let n = n as usize;
    let fixed = if conditions.is_null() {
        None
    } else {
        let list = List::try_from(conditions)?;
        let table = convert::table_from_r(&list, n).map_err(fail)?;
        Some(sample::conditions_to_fixed(&model, &table).map_err(fail)?)
    };
    let table = sample::synthesize_rows(
        &model,
        n,
        start as usize..end as usize,
        fixed.as_ref(),
        seed_value as u64,
        threads.max(1) as usize,
        &dev,
    )
    .map_err(fail)?;
    convert::table_to_r(table)
}

/// Rows the engine draws at a time: pieces of a long draw start at multiples of it.
/// @noRd
#[extendr]
fn rs_chunk_rows() -> f64 {
    sample::CHUNK_ROWS as f64
}

/// Propensity-score AUC of rows drawn from the model against the real data.
/// @noRd
#[extendr]
fn rs_check_fit(model: Raw, data: List, n_rows: i32, seed_value: f64, threads: i32) -> Result<f64> {
    let dev = Device::Cpu;
    let model = Model::from_bytes(model.as_slice(), &dev).map_err(fail)?;
    let table = convert::table_from_r(&data, n_rows as usize).map_err(fail)?;
    diagnostic::check_fit(
        &model,
        &table,
        seed_value as u64,
        threads.max(1) as usize,
        &dev,
    )
    .map_err(fail)
}

/// What a model holds, for print() and summary().
/// @noRd
#[extendr]
fn rs_model_info(model: Raw) -> Result<List> {
    let model = Model::from_bytes(model.as_slice(), &Device::Cpu).map_err(fail)?;
    let enc = &model.encoder;
    let names: Vec<&str> = enc.columns.iter().map(|c| c.name.as_str()).collect();
    let kinds: Vec<&str> = enc.columns.iter().map(|c| c.kind.describe()).collect();
    let missing: Vec<bool> = enc.columns.iter().map(|c| c.missing).collect();
    let encoding: Vec<String> = enc
        .columns
        .iter()
        .map(|c| match &c.transform {
            Transform::AllMissing => "all missing".to_string(),
            Transform::MinMax { .. } => "min-max".to_string(),
            Transform::Quantile { edges, .. } => {
                format!("private distribution ({} bins)", edges.len() - 1)
            }
            Transform::Modes {
                mixture, spikes, ..
            } if !spikes.is_empty() => {
                format!(
                    "{} mode(s), {} exact value(s)",
                    mixture.n_modes(),
                    spikes.len()
                )
            }
            Transform::Modes { mixture, .. } => format!("{} mode(s)", mixture.n_modes()),
            Transform::Categorical { n_levels } => format!("one-hot ({n_levels})"),
        })
        .collect();
    let n_params: usize = model
        .weights
        .iter()
        .filter(|(k, _)| k.starts_with(GENERATOR))
        .map(|(_, t)| t.elem_count())
        .sum();
    Ok(list!(
        columns = list!(
            name = names,
            kind = kinds,
            missing = missing,
            encoding = encoding
        ),
        encoded_width = enc.width() as f64,
        steps = model.steps as f64,
        format_version = sygnet_core::model::FORMAT_VERSION as i32,
        generator_parameters = n_params as f64,
        privacy = privacy_report(&model.config)?,
        condition_on = model.config.condition_on.clone(),
        rejection_acceptance = match &model.rejection {
            Some(r) => Robj::from(r.acceptance),
            None => Robj::from(()),
        }
    ))
}

/// The `k` Gower nearest neighbours of `query` rows among `reference` rows, as n x k
/// matrices of distances and 1-based indices. Columns are double vectors (category codes
/// for categorical ones); `ranges` holds each numeric column's range and NA for
/// categorical columns.
/// @noRd
#[extendr]
fn rs_nearest(
    reference: List,
    query: List,
    ranges: Robj,
    k: i32,
    exclude_self: bool,
    threads: i32,
) -> Result<List> {
    let doubles = |list: &List| -> Result<Vec<Vec<f64>>> {
        list.values()
            .map(|col| {
                col.as_real_vector()
                    .ok_or_else(|| config_error("distance columns must be double vectors".into()))
            })
            .collect()
    };
    let features: Vec<Feature> = ranges
        .as_real_vector()
        .ok_or_else(|| config_error("`ranges` must be a double vector".into()))?
        .into_iter()
        .map(|range| match range.is_nan() {
            true => Feature::Categorical,
            false => Feature::Numeric { range },
        })
        .collect();
    let found = distance::nearest(
        &doubles(&reference)?,
        &doubles(&query)?,
        &features,
        k.max(0) as usize,
        exclude_self,
        threads.max(1) as usize,
    )
    .map_err(fail)?;
    let (n, k) = (found.distances.len() / found.k, found.k);
    Ok(list!(
        distance = RMatrix::new_matrix(n, k, |r, c| found.distances[r * k + c]),
        index = RMatrix::new_matrix(n, k, |r, c| match found.indices[r * k + c] {
            usize::MAX => Rint::na(),
            i => Rint::from(i as i32 + 1),
        })
    ))
}

/// Epsilon of `steps` Poisson-subsampled Gaussian updates.
/// @noRd
#[extendr]
fn rs_dp_epsilon(noise_multiplier: f64, sample_rate: f64, steps: f64, delta: f64) -> Result<f64> {
    accountant::epsilon(noise_multiplier, sample_rate, steps as u64, delta)
        .map(|spent| spent.epsilon)
        .map_err(fail)
}

/// The smallest noise multiplier that keeps `steps` updates within `epsilon`.
/// @noRd
#[extendr]
fn rs_dp_noise_multiplier(epsilon: f64, delta: f64, sample_rate: f64, steps: f64) -> Result<f64> {
    accountant::noise_multiplier(epsilon, delta, sample_rate, steps as u64).map_err(fail)
}

/// Epsilon at `delta` of several uses of the subsampled Gaussian mechanism together.
/// @noRd
#[extendr]
fn rs_dp_epsilon_composed(
    noise_multipliers: &[f64],
    sample_rates: &[f64],
    steps: &[f64],
    delta: f64,
) -> Result<f64> {
    let uses: Vec<accountant::Use> = noise_multipliers
        .iter()
        .zip(sample_rates)
        .zip(steps)
        .map(
            |((&noise_multiplier, &sample_rate), &steps)| accountant::Use {
                noise_multiplier,
                sample_rate,
                steps: steps as u64,
            },
        )
        .collect();
    Ok(accountant::epsilon_composed(&uses, delta)
        .map_err(fail)?
        .epsilon)
}

extendr_module! {
    mod sygnet;
    fn rs_roundtrip;
    fn rs_panic_probe;
    fn rs_cuda_compiled;
    fn rs_session_new;
    fn rs_session_info;
    fn rs_session_train;
    fn rs_session_fit_rejection;
    fn rs_session_calibrate;
    fn rs_session_weight_rows;
    fn rs_session_model;
    fn rs_model_load;
    fn rs_synthesize;
    fn rs_chunk_rows;
    fn rs_model_info;
    fn rs_check_fit;
    fn rs_nearest;
    fn rs_dp_epsilon;
    fn rs_dp_noise_multiplier;
    fn rs_dp_epsilon_composed;
    fn rs_gan_defaults;
    fn rs_check_settings;
}
