//! Systems (nodes): devices, the scale-up levels inside the node, and scale-out NICs.
use super::reader::Fields;
use crate::error::Result;

/// Ways NICs of many nodes are cabled.
pub const NETWORKS: &[&str] = &["rail-optimized", "rails-only", "fat-tree", "dragonfly"];

/// One level of the in-node hierarchy, innermost first (e.g. GCD pair, then node).
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub name: String,
    /// Groups of the previous level (or devices, for the first level) joined at this level.
    pub size: u32,
    pub fabric: String,
}

/// The LLM step model's calibration of one system (hwdb `[calibration]`), fitted once on named rows: a factor
/// on the times of the matrix-unit kernels (GEMMs, attention), one on the memory-bound kernels of the layers and
/// the loss, one on link bandwidths, and one more on the network (NIC) level's bandwidth alone (1 where the
/// file gives none). A system without the table is uncalibrated (all 1).
#[derive(Debug, Clone, PartialEq)]
pub struct SystemCalibration {
    pub compute_time_scale: f64,
    /// Equal to `compute_time_scale` where the file gives none.
    pub memory_time_scale: f64,
    pub comm_bandwidth_scale: f64,
    pub network_bandwidth_scale: f64,
    /// Host time per kernel launch of an eager training step, us (0 where the file gives none).
    pub kernel_launch_us: f64,
    /// What the factors were fitted on (for `same_as`: the other system's, with the reason).
    pub fitted_on: String,
    /// The system whose calibration this one takes (`same_as`), and why.
    pub same_as: Option<(String, String)>,
    /// Named alternatives (`[[calibration.profiles]]`) for other software stacks on the same hardware, e.g.
    /// `megatron-2022`: Megatron-LM 2021 and 2022 differ by about 9% on identical plans on Selene (Narayanan et
    /// al. Table 1 1T vs Korthikanti et al. Table 5 1T, same tp/pp/micro-batches), more than any one factor
    /// absorbs.
    pub profiles: Vec<CalibrationProfile>,
}

/// A named calibration of a system for one software stack; a factor it leaves out is the system's.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationProfile {
    pub name: String,
    pub compute_time_scale: f64,
    pub memory_time_scale: f64,
    pub comm_bandwidth_scale: f64,
    pub network_bandwidth_scale: f64,
    pub kernel_launch_us: f64,
    pub fitted_on: String,
}

impl Default for SystemCalibration {
    fn default() -> Self {
        SystemCalibration {
            compute_time_scale: 1.0,
            memory_time_scale: 1.0,
            comm_bandwidth_scale: 1.0,
            network_bandwidth_scale: 1.0,
            kernel_launch_us: 0.0,
            fitted_on: "uncalibrated".to_owned(),
            same_as: None,
            profiles: Vec::new(),
        }
    }
}

/// `[calibration]` keys a system with `same_as` takes from that system.
pub const CALIBRATION_KEYS: &[&str] = &[
    "compute_time_scale",
    "memory_time_scale",
    "comm_bandwidth_scale",
    "network_bandwidth_scale",
    "kernel_launch_us",
    "fitted_on",
];

impl SystemCalibration {
    fn read(root: &Fields<'_>) -> Result<SystemCalibration> {
        let Some(c) = root.section("calibration")? else {
            return Ok(SystemCalibration::default());
        };
        let same_as = match c.string("same_as")? {
            Some(id) => {
                let reason = c.string("reason")?.ok_or_else(|| {
                    c.error(
                        "reason",
                        format!("is missing; `same_as = \"{id}\"` needs a reason (why the calibration carries over)"),
                    )
                })?;
                Some((id, reason))
            }
            None => None,
        };
        let compute = c.req_figure("compute_time_scale")?;
        let comm = c.req_figure("comm_bandwidth_scale")?;
        let network = c.figure("network_bandwidth_scale")?.unwrap_or(1.0);
        let launch = c.figure("kernel_launch_us")?.unwrap_or(0.0);
        let mut profiles: Vec<CalibrationProfile> = Vec::new();
        for t in c.tables("profiles")? {
            let name = t.req_string("name")?;
            if profiles.iter().any(|p| p.name == name) {
                return Err(t.error("name", format!("'{name}' is given twice")));
            }
            let pc = t.req_figure("compute_time_scale")?;
            profiles.push(CalibrationProfile {
                name,
                compute_time_scale: pc,
                memory_time_scale: t.figure("memory_time_scale")?.unwrap_or(pc),
                comm_bandwidth_scale: t.figure("comm_bandwidth_scale")?.unwrap_or(comm),
                network_bandwidth_scale: t.figure("network_bandwidth_scale")?.unwrap_or(network),
                kernel_launch_us: t.figure("kernel_launch_us")?.unwrap_or(launch),
                fitted_on: t.req_string("fitted_on")?,
            });
            t.finish()?;
        }
        let out = SystemCalibration {
            compute_time_scale: compute,
            memory_time_scale: c.figure("memory_time_scale")?.unwrap_or(compute),
            comm_bandwidth_scale: comm,
            network_bandwidth_scale: network,
            kernel_launch_us: launch,
            fitted_on: c.req_string("fitted_on")?,
            same_as,
            profiles,
        };
        if out.same_as.is_none() {
            // `reason` belongs to `same_as`; asking for it here would accept it alone.
            c.string("reason")?.map_or(Ok(()), |_| {
                Err(c.error(
                    "reason",
                    "is given without `same_as`; expected it only with `same_as`",
                ))
            })?;
        }
        c.finish()?;
        Ok(out)
    }
}

/// Serving frameworks a system's `[[serving]]` tables may calibrate (framework classes: SGLang schedules as
/// vLLM does and shares its figures unless given its own; `trtllm-pytorch` is TensorRT-LLM 1.0's PyTorch
/// backend, which takes `trtllm`'s figures unless given its own; `splitwise` is the 2023 vLLM-based prototype
/// of Patel et al., ISCA'24, run eagerly, whose phase times are the Splitwise measurements; `sglang-v0.5.9` is
/// the SGLang v0.5.9 build, whose ROCm images ran DeepSeek-R1 ~1.25-1.7x slower per decode step than v0.5.12 at
/// the same context on MI300X/MI325X (InferenceMAX rows of the same run), and which takes `sglang`'s figures
/// unless given its own).
pub const SERVING_FRAMEWORKS: &[&str] = &[
    "vllm",
    "trtllm",
    "sglang",
    "splitwise",
    "trtllm-pytorch",
    "vllm-v0.6",
    "sglang-v0.5.9",
];

/// The serving model's figures for one framework class on one system (hwdb `[[serving]]`), fitted on named
/// rows (see `perfmodel.serve` and `tools/calibrate.py --serving`). An absent figure keeps the uncalibrated
/// engine's value (scale 1, fraction 1, no overhead).
#[derive(Debug, Clone, PartialEq)]
pub struct ServingCalibration {
    pub framework: String,
    pub kernel_time_scale: Option<f64>,
    pub comm_bandwidth_scale: Option<f64>,
    pub decode_attention_fraction: Option<f64>,
    pub iteration_overhead_s: Option<f64>,
    pub collective_sync_s: Option<f64>,
    pub prefill_overhead_s: Option<f64>,
    pub per_sequence_overhead_s: Option<f64>,
    pub kernel_launch_s: Option<f64>,
    pub request_overhead_s: Option<f64>,
    pub fitted_on: String,
}

impl ServingCalibration {
    fn read_all(root: &Fields<'_>) -> Result<Vec<ServingCalibration>> {
        let mut out: Vec<ServingCalibration> = Vec::new();
        for t in root.tables("serving")? {
            let framework = t.choice("framework", SERVING_FRAMEWORKS)?;
            if out.iter().any(|c| c.framework == framework) {
                return Err(t.error("framework", format!("'{framework}' is given twice")));
            }
            let us = |k: &'static str| t.figure(k).map(|v| v.map(|x| x * 1e-6));
            out.push(ServingCalibration {
                framework,
                kernel_time_scale: t.figure("kernel_time_scale")?,
                comm_bandwidth_scale: t.figure("comm_bandwidth_scale")?,
                decode_attention_fraction: t.figure("decode_attention_fraction")?,
                iteration_overhead_s: us("iteration_overhead_us")?,
                collective_sync_s: us("collective_sync_us")?,
                prefill_overhead_s: us("prefill_overhead_us")?,
                per_sequence_overhead_s: us("per_sequence_overhead_us")?,
                kernel_launch_s: us("kernel_launch_us")?,
                request_overhead_s: us("request_overhead_us")?,
                fitted_on: t.req_string("fitted_on")?,
            });
            t.finish()?;
        }
        Ok(out)
    }
}

/// A node type, as hwdb describes it. Ids of devices, fabrics and NICs are resolved by the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct System {
    pub id: String,
    pub name: String,
    pub device: String,
    pub devices_per_node: u32,
    pub levels: Vec<Level>,
    pub nic: String,
    pub nics_per_node: u32,
    pub network: String,
    /// Oversubscription of the scale-out network above the leaf (1 = non-blocking).
    pub oversubscription: f64,
    /// The LLM step model's calibration.
    pub calibration: SystemCalibration,
    /// Host link of one device (PCIe or CPU-GPU fabric), bytes/s per direction: what offloaded optimizer states
    /// and activations cross. `None` where hwdb has no sourced figure (offload is then unsupported).
    pub host_link_bytes_per_s: Option<f64>,
    /// Host memory of one node, bytes (what offloaded states must fit in); `None` where not given.
    pub host_memory_bytes: Option<f64>,
    /// The serving model's calibrations, one per framework class.
    pub serving: Vec<ServingCalibration>,
    /// The node's rated (maximum) power, W, where the vendor publishes one: GPUs plus CPUs, NICs, fans and
    /// power conversion (`perfmodel.power.node_power`).
    pub rated_node_power_w: Option<f64>,
}

impl System {
    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<System> {
        let device = root.req_string("device")?;
        let devices_per_node = root.req_figure("devices_per_node_count")? as u32;
        let nic = root.req_string("nic")?;
        let nics_per_node = root.req_figure("nics_per_node_count")? as u32;
        let network = root.choice("network", NETWORKS)?;
        let oversubscription = root.figure("oversubscription_ratio")?.unwrap_or(1.0);
        let calibration = SystemCalibration::read(root)?;
        let serving = ServingCalibration::read_all(root)?;
        let host_link_bytes_per_s = root
            .figure("host_link_bandwidth_per_direction_gbps")?
            .map(|x| x * 1e9);
        let host_memory_bytes = root
            .figure("host_memory_capacity_gib")?
            .map(|x| x * 1_073_741_824.0);
        let rated_node_power_w = root.figure("rated_node_power_w")?;
        let mut levels = Vec::new();
        for l in root.tables("levels")? {
            levels.push(Level {
                name: l.req_string("name")?,
                size: l.req_figure("size_count")? as u32,
                fabric: l.req_string("fabric")?,
            });
            l.finish()?;
        }
        if levels.is_empty() {
            return Err(root.error(
                "levels",
                "is missing; expected at least one [[levels]] table",
            ));
        }
        let product: u32 = levels.iter().map(|l| l.size).product();
        if product != devices_per_node {
            return Err(root.error(
                "levels",
                format!(
                    "sizes multiply to {product}, but devices_per_node_count is {devices_per_node}"
                ),
            ));
        }
        Ok(System {
            id,
            name,
            device,
            devices_per_node,
            levels,
            nic,
            nics_per_node,
            network,
            oversubscription,
            calibration,
            host_link_bytes_per_s,
            host_memory_bytes,
            serving,
            rated_node_power_w,
        })
    }
}
