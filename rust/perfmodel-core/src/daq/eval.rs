//! Evaluating a pipeline: event statistics, power, selection quality and cost (docs/models/daq.md), one
//! configuration at a time or vectorized over sweep columns (in parallel with rayon for large sweeps).
use rayon::prelude::*;

use crate::error::{invalid, Result};

use super::classifier::{error_matrix, error_matrix_mc, Classifier, Rng};
use super::graph::{NodeKind, NodeParams, Pipeline, Settings, Target};

/// Optional Monte Carlo mode: each score classifier draws `samples` scores per class with a seeded
/// generator and solves its threshold on the empirical CDFs (SystemFlow draws 50 000 per class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McOptions {
    pub seed: u64,
    pub samples: usize,
}

/// Pipeline-level results. Powers are at the pipeline's technology year (divided by `S(year)`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub power_w: f64,
    pub compute_power_w: f64,
    pub link_power_w: f64,
    /// Total power at the reference year's technology (not scaled).
    pub power_unscaled_w: f64,
    pub scale_factor: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub accuracy: f64,
    pub tp_per_s: f64,
    pub fp_per_s: f64,
    pub tn_per_s: f64,
    pub fn_per_s: f64,
    /// Events per second that reach storage (`FP + TP` of the last classifier).
    pub output_rate_hz: f64,
    /// SystemFlow's productivity numerator: `F1 x output rate`.
    pub relevant_per_s: f64,
    /// `1000 x relevant_per_s / power_w` (SystemFlow `Productivity`, per kJ).
    pub relevant_per_kj: f64,
    /// `power_w / relevant_per_s`.
    pub energy_per_relevant_j: f64,
    pub units: f64,
    /// Sum of units x unit cost.
    pub cost: f64,
}

/// Column names of [`Metrics::values`], in order.
pub const METRIC_NAMES: [&str; 19] = [
    "power_w",
    "compute_power_w",
    "link_power_w",
    "power_unscaled_w",
    "scale_factor",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "tp_per_s",
    "fp_per_s",
    "tn_per_s",
    "fn_per_s",
    "output_rate_hz",
    "relevant_per_s",
    "relevant_per_kj",
    "energy_per_relevant_j",
    "units",
    "cost",
];

impl Metrics {
    pub fn values(&self) -> [f64; 19] {
        [
            self.power_w,
            self.compute_power_w,
            self.link_power_w,
            self.power_unscaled_w,
            self.scale_factor,
            self.precision,
            self.recall,
            self.f1,
            self.accuracy,
            self.tp_per_s,
            self.fp_per_s,
            self.tn_per_s,
            self.fn_per_s,
            self.output_rate_hz,
            self.relevant_per_s,
            self.relevant_per_kj,
            self.energy_per_relevant_j,
            self.units,
            self.cost,
        ]
    }
}

/// Per-node results of one evaluation (powers scaled to the technology year).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeResult {
    pub message_bytes: f64,
    pub output_bytes: f64,
    pub input_rate_hz: f64,
    pub output_rate_hz: f64,
    pub ops_per_event: f64,
    pub energy_per_event_j: f64,
    pub compute_power_w: f64,
    /// Power of the node's outgoing link.
    pub link_power_w: f64,
    /// Bytes/s on the outgoing link.
    pub link_throughput_bytes_per_s: f64,
    /// Product of the reduction ratios downstream of the node (`G` for a detector).
    pub global_ratio: f64,
    pub threshold: f64,
    /// Column-normalised error matrix `[tn, fn, fp, tp]`.
    pub error_matrix: [f64; 4],
    /// Events per second `[rejected negatives, rejected positives, passed negatives, passed positives]`.
    pub contingency: [f64; 4],
    pub units: f64,
    pub cost: f64,
}

/// One evaluation: pipeline metrics and one row per node.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub metrics: Metrics,
    pub nodes: Vec<NodeResult>,
}

/// `k0 + k1 M + k2 M^2 + k3 M^3`, times the scale.
#[inline]
fn ops(p: &NodeParams, m: f64) -> f64 {
    let k = &p.complexity;
    p.complexity_scale * (k[0] + m * (k[1] + m * (k[2] + m * k[3])))
}

/// Evaluates one configuration into `out` (one entry per node).
fn eval_into(
    p: &Pipeline,
    params: &[NodeParams],
    s: &Settings,
    mc: Option<(McOptions, u64)>,
    out: &mut [NodeResult],
    down_active: &mut [bool],
) -> Metrics {
    let int = |x: f64| if s.integer_counts { x.floor() } else { x };
    // Global ratio and "an active classifier downstream", root first.
    for &i in p.order.iter().rev() {
        match p.succ[i] {
            None => {
                out[i].global_ratio = 1.0;
                down_active[i] = false;
            }
            Some(j) => {
                let active = !matches!(p.classifier(j, &params[j]), Classifier::None);
                out[i].global_ratio = out[j].global_ratio
                    * if active {
                        params[j].reduction_ratio
                    } else {
                        1.0
                    };
                down_active[i] = down_active[j] || active;
            }
        }
    }
    let (mut compute, mut link, mut units, mut cost) = (0.0, 0.0, 0.0, 0.0);
    let (mut tn, mut fnn, mut fp, mut tp) = (0.0, 0.0, 0.0, 0.0);
    let mut any_classifier = false;
    for &i in &p.order {
        let q = &params[i];
        let (msg, neg, pos, r_in);
        let mut r = NodeResult {
            global_ratio: out[i].global_ratio,
            threshold: f64::NAN,
            ..NodeResult::default()
        };
        if p.nodes[i].kind == NodeKind::Detector {
            let rho = if s.relevant_fraction.is_nan() {
                1.0 / r.global_ratio
            } else {
                s.relevant_fraction
            };
            msg = q.data_bytes;
            pos = int(q.sample_rate_hz * rho);
            neg = int(q.sample_rate_hz - q.sample_rate_hz * rho);
            r_in = q.sample_rate_hz;
            r.error_matrix = [0.0, 0.0, 1.0, 1.0];
            r.contingency = [0.0, 0.0, neg, pos];
        } else {
            let preds = &p.preds[i];
            let k = preds.len() as f64;
            msg = preds.iter().map(|&j| out[j].output_bytes).sum::<f64>() + q.data_bytes;
            let neg_in = int(preds.iter().map(|&j| out[j].contingency[2]).sum::<f64>() / k);
            let pos_in = int(preds.iter().map(|&j| out[j].contingency[3]).sum::<f64>() / k);
            r_in = neg_in + pos_in;
            let c = p.classifier(i, q);
            let reject = 1.0 - 1.0 / q.reduction_ratio;
            let (e, x) = match mc {
                Some((o, row)) if !matches!(c, Classifier::None | Classifier::Rates { .. }) => {
                    let seed = o.seed
                        ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
                    error_matrix_mc(&c, neg_in, pos_in, reject, o.samples, &mut Rng::new(seed))
                }
                _ => error_matrix(&c, neg_in, pos_in, reject),
            };
            r.threshold = x;
            r.error_matrix = e;
            r.contingency = [
                int(neg_in * e[0]),
                int(pos_in * e[1]),
                int(neg_in * e[2]),
                int(pos_in * e[3]),
            ];
            (neg, pos) = (r.contingency[2], r.contingency[3]);
            if !matches!(c, Classifier::None) {
                any_classifier = true;
                tn += r.contingency[0];
                fnn += r.contingency[1];
                if !down_active[i] {
                    fp += r.contingency[2];
                    tp += r.contingency[3];
                }
            }
        }
        r.message_bytes = msg;
        r.input_rate_hz = r_in;
        r.output_rate_hz = neg + pos;
        r.output_bytes = msg * (1.0 - q.compression);
        r.ops_per_event = ops(q, msg);
        r.energy_per_event_j = q.energy_per_op_j * r.ops_per_event;
        r.compute_power_w = r.energy_per_event_j * r_in;
        if p.succ[i].is_some() {
            r.link_throughput_bytes_per_s = r.output_bytes * r.output_rate_hz;
            r.link_power_w = q.link_energy_per_bit_j * 8.0 * r.link_throughput_bytes_per_s;
        }
        r.units = q.units;
        if q.unit_time_s > 0.0 {
            r.units += (r_in * r.ops_per_event * q.unit_time_s / q.utilization).ceil();
        }
        r.cost = r.units * q.unit_cost;
        compute += r.compute_power_w;
        link += r.link_power_w;
        units += r.units;
        cost += r.cost;
        out[i] = r;
    }
    if !any_classifier {
        let c = out[p.root].contingency;
        (fp, tp) = (c[2], c[3]);
    }
    let scale = s.scale_factor();
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fnn > 0.0 { tp / (tp + fnn) } else { 0.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let total = tn + fnn + fp + tp;
    let power = (compute + link) / scale;
    let output = fp + tp;
    let relevant = f1 * output;
    Metrics {
        power_w: power,
        compute_power_w: compute / scale,
        link_power_w: link / scale,
        power_unscaled_w: compute + link,
        scale_factor: scale,
        precision,
        recall,
        f1,
        accuracy: if total > 0.0 { (tp + tn) / total } else { 0.0 },
        tp_per_s: tp,
        fp_per_s: fp,
        tn_per_s: tn,
        fn_per_s: fnn,
        output_rate_hz: output,
        relevant_per_s: relevant,
        relevant_per_kj: if power > 0.0 {
            1e3 * relevant / power
        } else {
            f64::INFINITY
        },
        energy_per_relevant_j: if relevant > 0.0 {
            power / relevant
        } else {
            f64::INFINITY
        },
        units,
        cost,
    }
}

/// Evaluates the pipeline as defined; `mc` switches on the seeded Monte Carlo classifiers.
pub fn evaluate(p: &Pipeline, mc: Option<McOptions>) -> Result<Evaluation> {
    if let Some(o) = mc {
        if o.samples < 2 {
            return Err(invalid(
                "mc_samples",
                format!("is {}; expected at least 2", o.samples),
            ));
        }
    }
    let params = p.params();
    let mut nodes = vec![NodeResult::default(); p.nodes.len()];
    let mut down = vec![false; p.nodes.len()];
    let mut metrics = eval_into(
        p,
        &params,
        &p.settings,
        mc.map(|o| (o, 0)),
        &mut nodes,
        &mut down,
    );
    let scale = metrics.scale_factor;
    for r in &mut nodes {
        r.compute_power_w /= scale;
        r.link_power_w /= scale;
    }
    metrics.scale_factor = scale;
    Ok(Evaluation { metrics, nodes })
}

/// Results of a sweep, row-major: `metrics[row * 19 + k]` in [`METRIC_NAMES`] order, and (if asked)
/// `stage_power_w[row * nodes + i]`: compute plus outgoing-link power of node `i`, scaled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepColumns {
    pub rows: usize,
    pub metrics: Vec<f64>,
    pub stage_power_w: Vec<f64>,
}

/// Rows above which a sweep runs in parallel.
const PARALLEL_THRESHOLD: usize = 2048;

/// Evaluates the pipeline once per row, with each target set to its column's value in that row.
/// Every value is checked first; an error names the row, the stage and the parameter.
pub fn sweep(
    p: &Pipeline,
    targets: &[(Target, &[f64])],
    per_stage: bool,
    mc: Option<McOptions>,
) -> Result<SweepColumns> {
    sweep_rows(p, targets, per_stage, mc, 0)
}

/// [`sweep`] of rows `first_row..` of a larger sweep (the columns hold those rows only): each row is numbered,
/// seeded (Monte Carlo) and named in errors as in the whole sweep, so sweeping a column in parts gives the rows
/// of sweeping it at once.
pub fn sweep_rows(
    p: &Pipeline,
    targets: &[(Target, &[f64])],
    per_stage: bool,
    mc: Option<McOptions>,
    first_row: u64,
) -> Result<SweepColumns> {
    let rows = targets.first().map_or(1, |t| t.1.len());
    for (t, col) in targets {
        if col.len() != rows {
            return Err(invalid(
                "sweep",
                format!("columns differ in length ({} vs {rows})", col.len()),
            ));
        }
        if let Target::Node(i, _) = t {
            if *i >= p.nodes.len() {
                return Err(invalid(
                    "sweep",
                    format!("node index {i} out of range ({} nodes)", p.nodes.len()),
                ));
            }
        }
        for (row, &v) in col.iter().enumerate() {
            p.check_target(*t, v)
                .map_err(|e| invalid("sweep", format!("row {}: {e}", first_row + row as u64)))?;
        }
    }
    if let Some(o) = mc {
        if o.samples < 2 {
            return Err(invalid(
                "mc_samples",
                format!("is {}; expected at least 2", o.samples),
            ));
        }
    }
    let n_nodes = p.nodes.len();
    let base = p.params();
    let width = METRIC_NAMES.len();
    let mut out = SweepColumns {
        rows,
        metrics: vec![0.0; rows * width],
        stage_power_w: vec![0.0; if per_stage { rows * n_nodes } else { 0 }],
    };
    let run = |start: usize,
               m: &mut [f64],
               sp: &mut [f64],
               params: &mut Vec<NodeParams>,
               res: &mut Vec<NodeResult>,
               down: &mut Vec<bool>| {
        for k in 0..m.len() / width {
            let row = start + k;
            params.copy_from_slice(&base);
            let mut s = p.settings;
            for (t, col) in targets {
                let v = col[row];
                match *t {
                    Target::Node(i, f) => f.set(&mut params[i], v),
                    Target::Year => s.year = v,
                    Target::RelevantFraction => s.relevant_fraction = v,
                }
            }
            let met = eval_into(
                p,
                params,
                &s,
                mc.map(|o| (o, first_row + row as u64)),
                res,
                down,
            );
            m[k * width..(k + 1) * width].copy_from_slice(&met.values());
            if per_stage {
                for (i, r) in res.iter().enumerate() {
                    sp[k * n_nodes + i] = (r.compute_power_w + r.link_power_w) / met.scale_factor;
                }
            }
        }
    };
    let scratch = || {
        (
            base.clone(),
            vec![NodeResult::default(); n_nodes],
            vec![false; n_nodes],
        )
    };
    if rows <= PARALLEL_THRESHOLD {
        let (mut params, mut res, mut down) = scratch();
        run(
            0,
            &mut out.metrics,
            &mut out.stage_power_w,
            &mut params,
            &mut res,
            &mut down,
        );
    } else {
        let chunk = (rows / (rayon::current_num_threads() * 8)).max(256);
        if per_stage {
            out.metrics
                .par_chunks_mut(chunk * width)
                .zip(out.stage_power_w.par_chunks_mut(chunk * n_nodes))
                .enumerate()
                .for_each_init(scratch, |(params, res, down), (ci, (m, sp))| {
                    run(ci * chunk, m, sp, params, res, down);
                });
        } else {
            out.metrics
                .par_chunks_mut(chunk * width)
                .enumerate()
                .for_each_init(scratch, |(params, res, down), (ci, m)| {
                    run(ci * chunk, m, &mut [], params, res, down);
                });
        }
    }
    Ok(out)
}
