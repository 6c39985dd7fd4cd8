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
}

impl System {
    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<System> {
        let device = root.req_string("device")?;
        let devices_per_node = root.req_figure("devices_per_node_count")? as u32;
        let nic = root.req_string("nic")?;
        let nics_per_node = root.req_figure("nics_per_node_count")? as u32;
        let network = root.choice("network", NETWORKS)?;
        let oversubscription = root.figure("oversubscription_ratio")?.unwrap_or(1.0);
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
        })
    }
}
