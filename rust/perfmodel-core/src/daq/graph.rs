//! The pipeline graph: nodes with scalar parameters, links, validation and topological order.
use crate::error::{invalid, Error, Result};

use super::classifier::{Classifier, ScoreTable};

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A leaf that samples at `sample_rate_hz`, `data_bytes` per sample.
    Detector,
    /// A processing or trigger stage.
    Processor,
    /// The single root where accepted events are stored.
    Storage,
}

impl NodeKind {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "detector" => Ok(NodeKind::Detector),
            "processor" | "trigger" | "stage" => Ok(NodeKind::Processor),
            "storage" => Ok(NodeKind::Storage),
            _ => Err(invalid(
                "kind",
                format!("unknown node kind '{s}'; expected 'detector', 'processor' or 'storage'"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Detector => "detector",
            NodeKind::Processor => "processor",
            NodeKind::Storage => "storage",
        }
    }
}

/// Which classifier a node uses; parameters live in [`NodeParams`] (skill, sigma, tpr, fpr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierKind {
    None,
    Rates,
    Gaussian,
    /// Index into the pipeline's score tables.
    Empirical(usize),
}

/// Every scalar of a node (all sweepable). Units are in the names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeParams {
    pub sample_rate_hz: f64,
    /// Detector: bytes per sample. Stage: bytes it adds to each event.
    pub data_bytes: f64,
    /// Fraction of outgoing data removed (output bytes = message x (1 - compression)).
    pub compression: f64,
    /// Events in per event out (>= 1); 1 for pass-through stages.
    pub reduction_ratio: f64,
    pub energy_per_op_j: f64,
    /// ops(M) = complexity_scale x (k0 + k1 M + k2 M^2 + k3 M^3), M in bytes.
    pub complexity: [f64; 4],
    pub complexity_scale: f64,
    /// Gaussian: mean of positive scores; empirical: shift added to positive scores.
    pub skill: f64,
    pub sigma: f64,
    pub tpr: f64,
    pub fpr: f64,
    /// Energy per bit of the node's outgoing link.
    pub link_energy_per_bit_j: f64,
    /// Fixed hardware units (boards, nodes, servers).
    pub units: f64,
    pub unit_cost: f64,
    /// Seconds one farm unit spends per op; 0 = no farm sizing.
    pub unit_time_s: f64,
    /// Target utilization of a farm (0, 1].
    pub utilization: f64,
}

impl Default for NodeParams {
    fn default() -> Self {
        NodeParams {
            sample_rate_hz: 0.0,
            data_bytes: 0.0,
            compression: 0.0,
            reduction_ratio: 1.0,
            energy_per_op_j: 0.0,
            complexity: [0.0, 1.0, 0.0, 0.0],
            complexity_scale: 1.0,
            skill: 0.0,
            sigma: 1.0,
            tpr: 1.0,
            fpr: 1.0,
            link_energy_per_bit_j: 0.0,
            units: 0.0,
            unit_cost: 0.0,
            unit_time_s: 0.0,
            utilization: 1.0,
        }
    }
}

/// A named scalar of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    SampleRateHz,
    DataBytes,
    Compression,
    ReductionRatio,
    EnergyPerOpJ,
    Complexity(usize),
    ComplexityScale,
    Skill,
    Sigma,
    Tpr,
    Fpr,
    LinkEnergyPerBitJ,
    Units,
    UnitCost,
    UnitTimeS,
    Utilization,
}

/// The largest amount a DAQ field takes (a rate in Hz, a size in bytes, an energy, a count): 1e18.
pub const MAX_VALUE: f64 = 1e18;
/// The lowest farm utilization a stage may be sized for: 1%.
pub const MIN_UTILIZATION: f64 = 0.01;
/// The largest classifier skill or score width magnitude: 1000 standard deviations.
pub const MAX_SKILL: f64 = 1000.0;
/// Technology years the CMOS scaling is evaluated at: `S(year) = exp(0.187 (year - 2022))` is a fit to IEDM'22
/// data; a century back or forty years ahead it would be a guess.
pub const YEARS: std::ops::RangeInclusive<f64> = 1990.0..=2060.0;

impl Field {
    pub const NAMES: [&'static str; 19] = [
        "sample_rate_hz",
        "data_bytes",
        "compression",
        "reduction_ratio",
        "energy_per_op_j",
        "complexity_k0",
        "complexity_k1",
        "complexity_k2",
        "complexity_k3",
        "complexity_scale",
        "skill",
        "sigma",
        "tpr",
        "fpr",
        "link_energy_per_bit_j",
        "units",
        "unit_cost",
        "unit_time_s",
        "utilization",
    ];

    pub fn parse(stage: &str, s: &str) -> Result<Self> {
        Ok(match s {
            "sample_rate_hz" => Field::SampleRateHz,
            "data_bytes" => Field::DataBytes,
            "compression" => Field::Compression,
            "reduction_ratio" => Field::ReductionRatio,
            "energy_per_op_j" => Field::EnergyPerOpJ,
            "complexity_k0" => Field::Complexity(0),
            "complexity_k1" => Field::Complexity(1),
            "complexity_k2" => Field::Complexity(2),
            "complexity_k3" => Field::Complexity(3),
            "complexity_scale" => Field::ComplexityScale,
            "skill" => Field::Skill,
            "sigma" => Field::Sigma,
            "tpr" => Field::Tpr,
            "fpr" => Field::Fpr,
            "link_energy_per_bit_j" => Field::LinkEnergyPerBitJ,
            "units" => Field::Units,
            "unit_cost" => Field::UnitCost,
            "unit_time_s" => Field::UnitTimeS,
            "utilization" => Field::Utilization,
            _ => {
                let close = crate::error::closest(s, Field::NAMES);
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", crate::error::quoted_list(&close))
                };
                return Err(invalid(
                    &format!("stage '{stage}'"),
                    format!("unknown parameter '{s}'{hint}"),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::SampleRateHz => "sample_rate_hz",
            Field::DataBytes => "data_bytes",
            Field::Compression => "compression",
            Field::ReductionRatio => "reduction_ratio",
            Field::EnergyPerOpJ => "energy_per_op_j",
            Field::Complexity(i) => Field::NAMES[5 + i],
            Field::ComplexityScale => "complexity_scale",
            Field::Skill => "skill",
            Field::Sigma => "sigma",
            Field::Tpr => "tpr",
            Field::Fpr => "fpr",
            Field::LinkEnergyPerBitJ => "link_energy_per_bit_j",
            Field::Units => "units",
            Field::UnitCost => "unit_cost",
            Field::UnitTimeS => "unit_time_s",
            Field::Utilization => "utilization",
        }
    }

    /// The domain of a value: `Err(expected)` when outside it.
    /// Checks `v` against the field's domain: every amount finite, >= 0 and at most [`MAX_VALUE`] (so that
    /// products of rates, sizes, polynomial ops and energies stay finite), fractions in [0, 1].
    pub fn check(self, v: f64) -> std::result::Result<(), &'static str> {
        let ok = match self {
            Field::SampleRateHz
            | Field::DataBytes
            | Field::EnergyPerOpJ
            | Field::ComplexityScale
            | Field::LinkEnergyPerBitJ
            | Field::Units
            | Field::UnitCost
            | Field::UnitTimeS
            | Field::Complexity(_) => (0.0..=MAX_VALUE).contains(&v),
            Field::Compression | Field::Tpr | Field::Fpr => (0.0..=1.0).contains(&v),
            Field::ReductionRatio => (1.0..=MAX_VALUE).contains(&v),
            Field::Skill => v.is_finite() && v.abs() <= MAX_SKILL,
            Field::Sigma => v > 0.0 && v <= MAX_SKILL,
            Field::Utilization => (MIN_UTILIZATION..=1.0).contains(&v),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            Field::SampleRateHz => "a rate >= 0 (a negative rate is meaningless)",
            Field::DataBytes => "a size >= 0 bytes (a negative size is meaningless)",
            Field::ReductionRatio => {
                "a reduction ratio >= 1 (a stage cannot emit more events than it receives)"
            }
            Field::Compression | Field::Tpr | Field::Fpr => "a fraction in [0, 1]",
            Field::Sigma => "a number > 0 and <= 1000",
            Field::Utilization => {
                "a fraction from 0.01 to 1 (a farm sized for under 1% use is not a design)"
            }
            Field::Skill => "a number from -1000 to 1000",
            Field::Complexity(_) => {
                "a polynomial coefficient >= 0 and <= 1e18 (ops per event cannot be negative)"
            }
            _ => "a number >= 0 and <= 1e18",
        })
    }

    pub fn get(self, p: &NodeParams) -> f64 {
        match self {
            Field::SampleRateHz => p.sample_rate_hz,
            Field::DataBytes => p.data_bytes,
            Field::Compression => p.compression,
            Field::ReductionRatio => p.reduction_ratio,
            Field::EnergyPerOpJ => p.energy_per_op_j,
            Field::Complexity(i) => p.complexity[i],
            Field::ComplexityScale => p.complexity_scale,
            Field::Skill => p.skill,
            Field::Sigma => p.sigma,
            Field::Tpr => p.tpr,
            Field::Fpr => p.fpr,
            Field::LinkEnergyPerBitJ => p.link_energy_per_bit_j,
            Field::Units => p.units,
            Field::UnitCost => p.unit_cost,
            Field::UnitTimeS => p.unit_time_s,
            Field::Utilization => p.utilization,
        }
    }

    pub fn set(self, p: &mut NodeParams, v: f64) {
        match self {
            Field::SampleRateHz => p.sample_rate_hz = v,
            Field::DataBytes => p.data_bytes = v,
            Field::Compression => p.compression = v,
            Field::ReductionRatio => p.reduction_ratio = v,
            Field::EnergyPerOpJ => p.energy_per_op_j = v,
            Field::Complexity(i) => p.complexity[i] = v,
            Field::ComplexityScale => p.complexity_scale = v,
            Field::Skill => p.skill = v,
            Field::Sigma => p.sigma = v,
            Field::Tpr => p.tpr = v,
            Field::Fpr => p.fpr = v,
            Field::LinkEnergyPerBitJ => p.link_energy_per_bit_j = v,
            Field::Units => p.units = v,
            Field::UnitCost => p.unit_cost = v,
            Field::UnitTimeS => p.unit_time_s = v,
            Field::Utilization => p.utilization = v,
        }
    }
}

/// A node of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub classifier: ClassifierKind,
    pub params: NodeParams,
}

impl Node {
    /// A node from its kind, classifier name (`none`, `rates`, `gaussian`, `empirical`) and named values.
    pub fn new(
        name: &str,
        kind: &str,
        classifier: &str,
        table: Option<usize>,
        values: &[(String, f64)],
    ) -> Result<Self> {
        let kind = NodeKind::parse(kind).map_err(|_| {
            invalid(
                &format!("stage '{name}'"),
                format!("unknown node kind '{kind}'"),
            )
        })?;
        let classifier = match (classifier, table) {
            ("none", _) => ClassifierKind::None,
            ("rates", _) => ClassifierKind::Rates,
            ("gaussian", _) => ClassifierKind::Gaussian,
            ("empirical", Some(t)) => ClassifierKind::Empirical(t),
            ("empirical", None) => {
                return Err(invalid(
                    &format!("stage '{name}'"),
                    "an empirical classifier needs a score table",
                ))
            }
            (c, _) => {
                return Err(invalid(
                    &format!("stage '{name}'"),
                    format!(
                    "unknown classifier '{c}'; expected 'none', 'rates', 'gaussian' or 'empirical'"
                ),
                ))
            }
        };
        let mut params = NodeParams::default();
        for (k, v) in values {
            Field::parse(name, k)?.set(&mut params, *v);
        }
        Ok(Node {
            name: name.to_owned(),
            kind,
            classifier,
            params,
        })
    }
}

/// A directed link carrying a node's output to its successor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub energy_per_bit_j: f64,
}

/// Pipeline-wide settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Technology year; power is divided by `S(year) = exp(rate (year - reference_year))`.
    pub year: f64,
    pub reference_year: f64,
    /// CMOS density scaling rate per year: 0.18717361 (SystemFlow `density_scale_model`, fit to IEEE IEDM'22).
    pub scaling_rate: f64,
    /// Fraction of detector samples that are relevant; NaN = `1/G` (SystemFlow's implicit assumption).
    pub relevant_fraction: f64,
    /// Truncate event counts to integers at each stage as SystemFlow does (`astype(int)`).
    pub integer_counts: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            year: 2022.0,
            reference_year: 2022.0,
            scaling_rate: 0.187_173_61,
            relevant_fraction: f64::NAN,
            integer_counts: true,
        }
    }
}

impl Settings {
    /// CMOS density scaling factor `S(year)` (docs/models/daq.md#technology-scaling).
    pub fn scale_factor(&self) -> f64 {
        (self.scaling_rate * (self.year - self.reference_year)).exp()
    }
}

/// What a sweep column changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(usize, Field),
    Year,
    RelevantFraction,
}

/// A validated pipeline with its evaluation order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub nodes: Vec<Node>,
    pub tables: Vec<ScoreTable>,
    pub settings: Settings,
    /// Nodes with every predecessor before its successors.
    pub order: Vec<usize>,
    pub succ: Vec<Option<usize>>,
    pub preds: Vec<Vec<usize>>,
    pub root: usize,
}

fn model(message: String) -> Error {
    Error::Model { message }
}

impl Pipeline {
    /// Checks structure (single storage root, no cycle, one successor per node) and values, and orders the nodes.
    pub fn new(
        mut nodes: Vec<Node>,
        links: &[Link],
        tables: Vec<ScoreTable>,
        settings: Settings,
    ) -> Result<Self> {
        let n = nodes.len();
        if n == 0 {
            return Err(model("pipeline has no nodes".into()));
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.name.is_empty() {
                return Err(model(format!("node {i} has an empty name")));
            }
            if nodes[..i].iter().any(|o| o.name == node.name) {
                return Err(model(format!("stage '{}' is defined twice", node.name)));
            }
            if let ClassifierKind::Empirical(t) = node.classifier {
                if t >= tables.len() {
                    return Err(model(format!(
                        "stage '{}': score table {t} does not exist ({} tables)",
                        node.name,
                        tables.len()
                    )));
                }
            }
        }
        let mut succ: Vec<Option<usize>> = vec![None; n];
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        for l in links {
            if l.from >= n || l.to >= n {
                return Err(model(format!(
                    "link {} -> {} refers to a node that does not exist ({n} nodes)",
                    l.from, l.to
                )));
            }
            let (a, b) = (&nodes[l.from].name, &nodes[l.to].name);
            if let Some(prev) = succ[l.from] {
                return Err(model(format!(
                    "stage '{a}' has two outgoing links (to '{}' and '{b}'); each stage sends its data to one successor",
                    nodes[prev].name
                )));
            }
            if nodes[l.to].kind == NodeKind::Detector {
                return Err(model(format!(
                    "link '{a}' -> '{b}': detector '{b}' cannot receive data"
                )));
            }
            if let Err(expected) = Field::LinkEnergyPerBitJ.check(l.energy_per_bit_j) {
                return Err(invalid(
                    &format!("link '{a}' -> '{b}' energy_per_bit_j"),
                    format!("is {}; expected {expected}", l.energy_per_bit_j),
                ));
            }
            succ[l.from] = Some(l.to);
            preds[l.to].push(l.from);
            nodes[l.from].params.link_energy_per_bit_j = l.energy_per_bit_j;
        }
        let roots: Vec<usize> = (0..n).filter(|&i| succ[i].is_none()).collect();
        let storage: Vec<&str> = nodes
            .iter()
            .filter(|x| x.kind == NodeKind::Storage)
            .map(|x| x.name.as_str())
            .collect();
        if storage.len() != 1 {
            return Err(model(format!(
                "pipeline needs exactly one storage root; found {} storage nodes{}",
                storage.len(),
                if storage.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", storage.join(", "))
                }
            )));
        }
        let dangling: Vec<&str> = roots
            .iter()
            .filter(|&&i| nodes[i].kind != NodeKind::Storage)
            .map(|&i| nodes[i].name.as_str())
            .collect();
        if !dangling.is_empty() {
            return Err(model(format!(
                "pipeline needs a single storage root, but stage(s) {} send their data nowhere",
                dangling
                    .iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let Some(&root) = roots.first() else {
            let name = &nodes[nodes
                .iter()
                .position(|x| x.kind == NodeKind::Storage)
                .unwrap_or(0)]
            .name;
            return Err(model(format!("pipeline has a cycle through stage '{name}' (the storage root has an outgoing link)")));
        };
        // Kahn's algorithm: whatever is left has a cycle.
        let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut order: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut head = 0;
        while head < order.len() {
            if let Some(s) = succ[order[head]] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    order.push(s);
                }
            }
            head += 1;
        }
        if order.len() < n {
            let stuck = (0..n).find(|&i| indeg[i] > 0).unwrap_or(0);
            return Err(model(format!(
                "pipeline has a cycle through stage '{}'",
                nodes[stuck].name
            )));
        }
        for (i, node) in nodes.iter().enumerate() {
            if node.kind != NodeKind::Detector && preds[i].is_empty() {
                return Err(model(format!(
                    "stage '{}' receives no data (no incoming link)",
                    node.name
                )));
            }
            if node.kind == NodeKind::Detector && node.classifier != ClassifierKind::None {
                return Err(model(format!(
                    "detector '{}' cannot have a classifier; add a trigger stage",
                    node.name
                )));
            }
        }
        let p = Pipeline {
            nodes,
            tables,
            settings,
            order,
            succ,
            preds,
            root,
        };
        p.check_values(&p.params(), &p.settings)?;
        Ok(p)
    }

    /// The nodes' parameters, in node order.
    pub fn params(&self) -> Vec<NodeParams> {
        self.nodes.iter().map(|x| x.params).collect()
    }

    /// Index of a node by name.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|x| x.name == name)
            .ok_or_else(|| {
                let close = crate::error::closest(name, self.nodes.iter().map(|x| x.name.as_str()));
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", crate::error::quoted_list(&close))
                };
                invalid("stage", format!("no stage named '{name}'{hint}"))
            })
    }

    /// Checks one value of a sweep or override against its field's domain, naming the stage.
    pub fn check_target(&self, target: Target, v: f64) -> Result<()> {
        match target {
            Target::Node(i, f) => {
                let node = &self.nodes[i];
                if let Err(expected) = f.check(v) {
                    return Err(invalid(
                        &format!("stage '{}' {}", node.name, f.name()),
                        format!("is {v}; expected {expected}"),
                    ));
                }
                if f == Field::ReductionRatio && v > 1.0 && node.classifier == ClassifierKind::None
                {
                    return Err(invalid(
                        &format!("stage '{}' reduction_ratio", node.name),
                        format!("is {v} but the stage has no classifier; give it one or use 1"),
                    ));
                }
                if f == Field::SampleRateHz && node.kind == NodeKind::Detector && v <= 0.0 {
                    return Err(invalid(
                        &format!("stage '{}' sample_rate_hz", node.name),
                        format!("is {v}; a detector needs a rate > 0"),
                    ));
                }
                Ok(())
            }
            Target::Year => {
                if YEARS.contains(&v) {
                    Ok(())
                } else {
                    Err(invalid(
                        "year",
                        format!(
                            "is {v}; expected a technology year from {} to {} (the CMOS density fit, IEDM'22, \
                             extrapolated no further)",
                            YEARS.start(),
                            YEARS.end()
                        ),
                    ))
                }
            }
            Target::RelevantFraction => {
                if v.is_nan() || (v > 0.0 && v <= 1.0) {
                    Ok(())
                } else {
                    Err(invalid(
                        "relevant_fraction",
                        format!("is {v}; expected a fraction in (0, 1] (or NaN for 1/G)"),
                    ))
                }
            }
        }
    }

    /// Checks every value of `params` and `settings`.
    pub fn check_values(&self, params: &[NodeParams], settings: &Settings) -> Result<()> {
        for (i, p) in params.iter().enumerate() {
            for name in Field::NAMES {
                let f = Field::parse("", name)?;
                self.check_target(Target::Node(i, f), f.get(p))?;
            }
        }
        self.check_target(Target::Year, settings.year)?;
        self.check_target(Target::RelevantFraction, settings.relevant_fraction)?;
        if !settings.reference_year.is_finite() || !settings.scaling_rate.is_finite() {
            return Err(invalid(
                "scaling",
                "reference_year and scaling_rate must be finite",
            ));
        }
        Ok(())
    }

    /// The classifier of node `i` with parameters `p`.
    pub fn classifier<'a>(&'a self, i: usize, p: &NodeParams) -> Classifier<'a> {
        match self.nodes[i].classifier {
            ClassifierKind::None => Classifier::None,
            ClassifierKind::Rates => Classifier::Rates {
                tpr: p.tpr,
                fpr: p.fpr,
            },
            ClassifierKind::Gaussian => Classifier::Gaussian {
                skill: p.skill,
                sigma: p.sigma,
            },
            ClassifierKind::Empirical(t) => Classifier::Empirical {
                table: &self.tables[t],
                shift: p.skill,
            },
        }
    }
}
