//! Clusters: node groups of hwdb systems and the network that joins groups whose NICs differ.
use super::reader::Fields;
use crate::error::Result;

/// One group of identical nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterGroup {
    pub system: String,
    pub nodes: u32,
}

/// A cluster as hwdb describes it. Ids are resolved by the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub id: String,
    pub name: String,
    pub groups: Vec<ClusterGroup>,
    /// NIC of the network joining groups with different NIC transports (TCP); `None` when there is none.
    pub fallback_nic: Option<String>,
    pub fallback_nics_per_node: u32,
}

impl ClusterSpec {
    pub(crate) fn read(root: &Fields<'_>, id: String, name: String) -> Result<ClusterSpec> {
        let fallback_nic = root.string("fallback_nic")?;
        let fallback_nics_per_node = root
            .figure("fallback_nics_per_node_count")?
            .map_or(1, |x| x as u32);
        let mut groups = Vec::new();
        for g in root.tables("groups")? {
            groups.push(ClusterGroup {
                system: g.req_string("system")?,
                nodes: g.req_figure("nodes_count")? as u32,
            });
            g.finish()?;
        }
        if groups.is_empty() {
            return Err(root.error(
                "groups",
                "is missing; expected at least one [[groups]] table with `system` and `nodes_count`",
            ));
        }
        Ok(ClusterSpec {
            id,
            name,
            groups,
            fallback_nic,
            fallback_nics_per_node,
        })
    }
}
