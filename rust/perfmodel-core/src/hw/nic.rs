//! Network interface cards for scale-out traffic.
use super::reader::Fields;
use crate::error::Result;

/// Transports a NIC can carry collectives over.
pub const TRANSPORTS: &[&str] = &["infiniband", "roce", "slingshot", "tcp"];

/// A scale-out NIC.
#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    pub id: String,
    pub name: String,
    /// Line rate per direction, bits/s.
    pub line_rate_bits_per_s: f64,
    /// Fraction of the line rate a large transfer reaches (calibrated, see `fitted_on`).
    pub bandwidth_fraction: f64,
    /// One-way small-message latency through the NIC and one switch hop, seconds.
    pub latency_s: f64,
    /// The RDMA (or TCP) transport the NIC uses natively.
    pub transport: String,
    /// Transport used with NICs of another transport (usually TCP over the NIC's Ethernet mode).
    pub fallback_transport: String,
    /// In-network reduction (SHARP) available with this NIC's switches.
    pub in_network_reduction: bool,
    /// The low-latency (LL) protocol over this NIC, as ratios of the Simple protocol's per-step latency and
    /// bandwidth (`[efficiency] ll_latency_ratio`, `ll_bandwidth_ratio`, optional; see `Fabric`).
    pub ll_latency_ratio: Option<f64>,
    pub ll_bandwidth_ratio: Option<f64>,
    /// The LL128 protocol over this NIC, the same way (`ll128_latency_ratio`, `ll128_bandwidth_ratio`).
    pub ll128_latency_ratio: Option<f64>,
    pub ll128_bandwidth_ratio: Option<f64>,
    pub fitted_on: String,
}

impl Nic {
    /// Achievable bandwidth per direction, bytes/s.
    pub fn bandwidth_bytes_per_s(&self) -> f64 {
        self.line_rate_bits_per_s / 8.0 * self.bandwidth_fraction
    }

    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<Nic> {
        let line_rate_bits_per_s = root.req_figure("line_rate_gbit_per_s")? * 1e9;
        let transport = root.choice("transport", TRANSPORTS)?;
        let fallback_transport = match root.string("fallback_transport")? {
            Some(_) => root.choice("fallback_transport", TRANSPORTS)?,
            None => "tcp".to_owned(),
        };
        let e = root.req_section("efficiency")?;
        let nic = Nic {
            id,
            name,
            line_rate_bits_per_s,
            bandwidth_fraction: e.req_figure("bandwidth_fraction")?,
            latency_s: e.req_figure("latency_us")? * 1e-6,
            transport,
            fallback_transport,
            in_network_reduction: root.boolean("in_network_reduction")?.unwrap_or(false),
            ll_latency_ratio: e.figure("ll_latency_ratio")?,
            ll_bandwidth_ratio: e.figure("ll_bandwidth_ratio")?,
            ll128_latency_ratio: e.figure("ll128_latency_ratio")?,
            ll128_bandwidth_ratio: e.figure("ll128_bandwidth_ratio")?,
            fitted_on: e.req_string("fitted_on")?,
        };
        e.finish()?;
        Ok(nic)
    }
}
