//! Intra-node (scale-up) fabrics: NVSwitch, fully connected xGMI meshes, Infinity Fabric pairs.
use super::reader::Fields;
use crate::error::Result;

/// How the devices of one fabric are wired.
pub const TOPOLOGIES: &[&str] = &["switch", "full_mesh"];

/// A scale-up fabric joining the devices of one topology level.
#[derive(Debug, Clone, PartialEq)]
pub struct Fabric {
    pub id: String,
    pub name: String,
    /// `switch`: every device reaches every other at its full injection bandwidth;
    /// `full_mesh`: one direct link per device pair, so a ring uses one link per hop.
    pub topology: String,
    /// Bandwidth of one link per direction, bytes/s.
    pub link_bandwidth_bytes_per_s: f64,
    /// Links each device has into this fabric.
    pub links_per_device: u32,
    /// Fraction of link bandwidth large transfers reach (calibrated).
    pub bandwidth_fraction: f64,
    /// Per-hop latency, seconds.
    pub latency_s: f64,
    /// In-switch reduction (NVLink SHARP / NVLS).
    pub in_network_reduction: bool,
    /// Fixed cost of one collective call on this fabric (kernel launch, synchronisation), seconds
    /// (`[efficiency] launch_us`, optional, default 5 us).
    pub launch_s: f64,
    /// Fraction of the device bandwidth an in-switch-reduction all-reduce reaches
    /// (`[efficiency] nvls_bandwidth_fraction`, optional, default `bandwidth_fraction`).
    pub nvls_bandwidth_fraction: f64,
    /// NCCL/RCCL's low-latency (LL) protocol on this fabric: its per-step latency and bandwidth as ratios
    /// of the Simple protocol's (`latency_us`, `bandwidth_fraction`); `[efficiency] ll_latency_ratio` and
    /// `ll_bandwidth_ratio`, optional (absent: only the Simple protocol is modelled).
    pub ll_latency_ratio: Option<f64>,
    pub ll_bandwidth_ratio: Option<f64>,
    /// NCCL/RCCL's LL128 protocol on this fabric, the same way (`[efficiency] ll128_latency_ratio`,
    /// `ll128_bandwidth_ratio`, optional; absent: LL128 is not modelled).
    pub ll128_latency_ratio: Option<f64>,
    pub ll128_bandwidth_ratio: Option<f64>,
    pub fitted_on: String,
    /// A framework's own all-reduce kernel over this fabric (`[custom_all_reduce]`, optional): what
    /// [`crate::collective::Algorithm::CustomAllReduce`] costs here; absent where none is modelled.
    pub custom_all_reduce: Option<CustomAllReduce>,
    /// What the `[custom_all_reduce]` figures were fitted on (empty when there are none).
    pub custom_all_reduce_fitted_on: String,
}

/// A framework's custom all-reduce (SGLang's, vLLM's, TensorRT-LLM's one-/two-shot kernels over peer-mapped
/// buffers, instead of NCCL) on one fabric: `time = latency + bytes / rate` for a message of at most
/// `max_bytes` over a group of at most `max_ranks` ranks of one switch domain (an even number of them where
/// `even_ranks_only`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomAllReduce {
    /// The whole call's fixed cost, launch included, seconds (`latency_us`).
    pub latency_s: f64,
    /// Message bytes per second beyond the fixed cost (`bandwidth_gbps`: the algorithm bandwidth, bytes of
    /// the buffer per second, as nccl-tests' algbw).
    pub bytes_per_s: f64,
    /// Largest message the kernel takes, bytes (`max_message_mib`); larger ones go to NCCL.
    pub max_bytes: f64,
    /// Most ranks it takes (`max_ranks_count`).
    pub max_ranks: u32,
    /// Whether it takes only even rank counts (`even_ranks_only`, default false).
    pub even_ranks_only: bool,
}

impl CustomAllReduce {
    /// Whether a group of `nranks` ranks is one the kernel takes (2 up to `max_ranks`, even where it must be).
    pub fn takes_ranks(&self, nranks: u32) -> bool {
        nranks >= 2 && nranks <= self.max_ranks && (!self.even_ranks_only || nranks % 2 == 0)
    }
}

impl Fabric {
    /// Injection bandwidth of one device per direction (all its links), bytes/s, before efficiency.
    pub fn device_bandwidth_bytes_per_s(&self) -> f64 {
        self.link_bandwidth_bytes_per_s * f64::from(self.links_per_device)
    }

    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<Fabric> {
        let topology = root.choice("topology", TOPOLOGIES)?;
        let link_bandwidth_bytes_per_s =
            root.req_figure("link_bandwidth_per_direction_gbps")? * 1e9;
        let links_per_device = root.req_figure("links_per_device_count")? as u32;
        let in_network_reduction = root.boolean("in_network_reduction")?.unwrap_or(false);
        let (custom_all_reduce, custom_all_reduce_fitted_on) =
            match root.section("custom_all_reduce")? {
                None => (None, String::new()),
                Some(c) => {
                    let ar = CustomAllReduce {
                        latency_s: c.req_figure("latency_us")? * 1e-6,
                        bytes_per_s: c.req_figure("bandwidth_gbps")? * 1e9,
                        max_bytes: c.req_figure("max_message_mib")? * 1_048_576.0,
                        max_ranks: c.req_figure("max_ranks_count")? as u32,
                        even_ranks_only: c.boolean("even_ranks_only")?.unwrap_or(false),
                    };
                    let fitted_on = c.req_string("fitted_on")?;
                    c.finish()?;
                    (Some(ar), fitted_on)
                }
            };
        let e = root.req_section("efficiency")?;
        let bandwidth_fraction = e.req_figure("bandwidth_fraction")?;
        let f = Fabric {
            id,
            name,
            topology,
            link_bandwidth_bytes_per_s,
            links_per_device,
            bandwidth_fraction,
            latency_s: e.req_figure("latency_us")? * 1e-6,
            in_network_reduction,
            launch_s: e.figure("launch_us")?.unwrap_or(5.0) * 1e-6,
            nvls_bandwidth_fraction: e
                .figure("nvls_bandwidth_fraction")?
                .unwrap_or(bandwidth_fraction),
            ll_latency_ratio: e.figure("ll_latency_ratio")?,
            ll_bandwidth_ratio: e.figure("ll_bandwidth_ratio")?,
            ll128_latency_ratio: e.figure("ll128_latency_ratio")?,
            ll128_bandwidth_ratio: e.figure("ll128_bandwidth_ratio")?,
            fitted_on: e.req_string("fitted_on")?,
            custom_all_reduce,
            custom_all_reduce_fitted_on,
        };
        e.finish()?;
        Ok(f)
    }
}
