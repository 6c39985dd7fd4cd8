//! The hardware database: strict TOML specs of devices, NICs, fabrics and systems, embedded at build time.
//!
//! Schema and unit vocabulary: `hwdb/README.md`.
pub mod cluster;
pub mod device;
pub mod dtype;
pub mod fabric;
pub mod nic;
pub mod reader;
pub mod system;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

pub use cluster::{ClusterGroup, ClusterSpec};
pub use device::{
    AttentionSchedule, Device, Efficiency, GemmTileScheduler, MemoryLevel, DEFAULT_INHERIT_FROM,
    INHERITABLE_EFFICIENCY,
};
pub use dtype::Dtype;
pub use fabric::Fabric;
pub use nic::Nic;
pub use system::{Level, System, SystemCalibration, CALIBRATION_KEYS};

use crate::error::{closest, Error, Result};
use reader::Fields;

include!(concat!(env!("OUT_DIR"), "/embedded_hwdb.rs"));

/// The kinds of spec, and the hwdb folder of each.
pub const KINDS: &[(&str, &str)] = &[
    ("device", "devices"),
    ("nic", "nics"),
    ("fabric", "fabrics"),
    ("system", "systems"),
    ("cluster", "clusters"),
];

/// A parsed spec of any kind.
#[derive(Debug, Clone)]
pub enum Spec {
    Device(Arc<Device>),
    Nic(Arc<Nic>),
    Fabric(Arc<Fabric>),
    System(Arc<System>),
    Cluster(Arc<ClusterSpec>),
}

/// A spec together with where it came from and the table it was read from (for overrides).
#[derive(Debug, Clone)]
pub struct HwSpec {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub file: String,
    pub table: toml::Table,
    pub sources: BTreeMap<String, String>,
    pub spec: Spec,
}

impl HwSpec {
    /// The device inside, or an error naming what this spec is.
    pub fn device(&self) -> Result<Arc<Device>> {
        match &self.spec {
            Spec::Device(d) => Ok(d.clone()),
            _ => Err(self.wrong_kind("device")),
        }
    }

    pub fn nic(&self) -> Result<Arc<Nic>> {
        match &self.spec {
            Spec::Nic(n) => Ok(n.clone()),
            _ => Err(self.wrong_kind("nic")),
        }
    }

    pub fn fabric(&self) -> Result<Arc<Fabric>> {
        match &self.spec {
            Spec::Fabric(f) => Ok(f.clone()),
            _ => Err(self.wrong_kind("fabric")),
        }
    }

    /// The cluster inside, or an error naming what this spec is.
    pub fn cluster(&self) -> Result<Arc<ClusterSpec>> {
        match &self.spec {
            Spec::Cluster(c) => Ok(c.clone()),
            _ => Err(self.wrong_kind("cluster")),
        }
    }

    pub fn system(&self) -> Result<Arc<System>> {
        match &self.spec {
            Spec::System(s) => Ok(s.clone()),
            _ => Err(self.wrong_kind("system")),
        }
    }

    fn wrong_kind(&self, want: &str) -> Error {
        Error::InvalidArgument {
            arg: "spec".into(),
            message: format!("'{}' is a {}, expected a {want}", self.id, self.kind),
        }
    }

    /// A new spec with dotted-path fields replaced (`memory.hbm_bandwidth_gbps = 5000`), validated as strictly
    /// as a file; the id gets no suffix so that callers can name the what-if themselves.
    pub fn with_overrides(&self, overrides: &[(String, toml::Value)]) -> Result<HwSpec> {
        let mut table = self.table.clone();
        let file = format!("{} (with overrides)", self.file);
        for (path, value) in overrides {
            set_path(&mut table, path, value.clone()).map_err(|message| Error::Hwdb {
                file: file.clone(),
                key: path.clone(),
                message,
            })?;
        }
        parse_table(&file, table, Some(self.kind))
    }
}

fn set_path(
    table: &mut toml::Table,
    path: &str,
    value: toml::Value,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut t = table;
    for part in &parts[..parts.len() - 1] {
        let entry = t
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(sub) => sub,
            _ => {
                return Err(format!(
                    "`{part}` is not a table, so `{path}` cannot be set"
                ))
            }
        };
    }
    t.insert(parts[parts.len() - 1].to_owned(), value);
    Ok(())
}

/// Parses one spec file's text.
pub fn parse(file: &str, text: &str, expected_kind: Option<&str>) -> Result<HwSpec> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Hwdb {
        file: file.to_owned(),
        key: String::new(),
        message: format!("not valid TOML: {}", e.to_string().trim()),
    })?;
    parse_table(file, table, expected_kind)
}

/// Reads a parsed table strictly into a spec; what it takes from other specs (`efficiency.inherit_from`,
/// `calibration.same_as`) comes from the embedded database.
pub fn parse_table(file: &str, table: toml::Table, expected_kind: Option<&str>) -> Result<HwSpec> {
    let lookup = |id: &str| -> Option<toml::Table> {
        registry()
            .ok()
            .and_then(|r| r.get(id).ok())
            .map(|s| s.table.clone())
    };
    let resolved = resolve_references(file, &table, &lookup, 0)?;
    parse_resolved(file, table, &resolved, expected_kind)
}

/// The longest chain of `inherit_from` / `same_as` references followed.
const MAX_REFERENCE_DEPTH: u32 = 8;

fn str_at<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(toml::Value::as_str)
}

/// `table` with the keys it takes from another spec filled in: a device's inheritable `[efficiency]` figures
/// (`INHERITABLE_EFFICIENCY`) from the device its `inherit_from` names (default `DEFAULT_INHERIT_FROM`), a
/// system's `[calibration]` from the system its `same_as` names (its `fitted_on` says so). Keys the file gives
/// are kept. `lookup` gives the raw table of an id.
pub fn resolve_references(
    file: &str,
    table: &toml::Table,
    lookup: &dyn Fn(&str) -> Option<toml::Table>,
    depth: u32,
) -> Result<toml::Table> {
    let mut out = table.clone();
    let (section, keys, reference) = match str_at(table, "kind") {
        Some("device") => ("efficiency", INHERITABLE_EFFICIENCY, "inherit_from"),
        Some("system") => ("calibration", CALIBRATION_KEYS, "same_as"),
        _ => return Ok(out),
    };
    let Some(toml::Value::Table(own)) = table.get(section) else {
        return Ok(out);
    };
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !own.contains_key(*k))
        .collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let key = format!("{section}.{reference}");
    let parent_id = match own.get(reference) {
        Some(toml::Value::String(s)) => s.clone(),
        None if section == "efficiency" && str_at(table, "id") != Some(DEFAULT_INHERIT_FROM) => {
            DEFAULT_INHERIT_FROM.to_owned()
        }
        // A wrong type is the strict reader's to report; nothing named, nothing to take.
        _ => return Ok(out),
    };
    let err = |message: String| Error::Hwdb {
        file: file.to_owned(),
        key: key.clone(),
        message,
    };
    if depth >= MAX_REFERENCE_DEPTH {
        return Err(err(format!(
            "'{parent_id}': the chain of references is longer than {MAX_REFERENCE_DEPTH} (a cycle?)"
        )));
    }
    let kind = str_at(table, "kind").unwrap_or_default();
    let parent = lookup(&parent_id)
        .filter(|t| str_at(t, "kind") == Some(kind))
        .ok_or_else(|| err(format!("'{parent_id}' is not an embedded {kind} id")))?;
    let parent_file = format!("hwdb/{parent_id} (via {key})");
    let parent = resolve_references(&parent_file, &parent, lookup, depth + 1)?;
    let Some(toml::Value::Table(from)) = parent.get(section) else {
        return Err(err(format!(
            "'{parent_id}' has no [{section}] table to take from"
        )));
    };
    let Some(toml::Value::Table(dest)) = out.get_mut(section) else {
        unreachable!("checked above")
    };
    for k in missing {
        let Some(v) = from.get(k) else { continue };
        let v = if k == "fitted_on" && section == "calibration" {
            let reason = str_at(own, "reason").unwrap_or("no reason given");
            toml::Value::String(format!(
                "same as {parent_id}: {reason} ({})",
                v.as_str().unwrap_or_default()
            ))
        } else {
            v.clone()
        };
        dest.insert(k.to_owned(), v);
    }
    Ok(out)
}

/// Reads `resolved` (a spec's table with its references filled in) strictly; the spec keeps `table`, the file
/// as written.
fn parse_resolved(
    file: &str,
    table: toml::Table,
    resolved: &toml::Table,
    expected_kind: Option<&str>,
) -> Result<HwSpec> {
    let figures = RefCell::new(Vec::new());
    let root = Fields::root(file, resolved, &figures);
    let kinds: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
    let kind_s = root.choice("kind", &kinds)?;
    let kind: &'static str = KINDS.iter().find(|(k, _)| *k == kind_s).unwrap().0;
    if let Some(want) = expected_kind {
        if want != kind {
            return Err(root.error(
                "kind",
                format!("is '{kind}', expected '{want}' for this file"),
            ));
        }
    }
    let id = root.req_string("id")?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(root.error(
            "id",
            format!("is '{id}'; expected a lowercase slug (a-z, 0-9, '-')"),
        ));
    }
    let name = root.req_string("name")?;
    let spec = match kind {
        "device" => Spec::Device(Arc::new(Device::read(&root, id.clone(), name.clone())?)),
        "nic" => Spec::Nic(Arc::new(Nic::read(&root, id.clone(), name.clone())?)),
        "fabric" => Spec::Fabric(Arc::new(Fabric::read(&root, id.clone(), name.clone())?)),
        "cluster" => Spec::Cluster(Arc::new(ClusterSpec::read(
            &root,
            id.clone(),
            name.clone(),
        )?)),
        _ => Spec::System(Arc::new(System::read(&root, id.clone(), name.clone())?)),
    };
    let sources = read_sources(&root, &figures.borrow())?;
    root.finish()?;
    Ok(HwSpec {
        kind,
        id,
        name,
        file: file.to_owned(),
        table,
        sources,
        spec,
    })
}

/// `[sources]`: every figure must be covered by its own key, its section's key or `"*"`.
fn read_sources(root: &Fields<'_>, figures: &[String]) -> Result<BTreeMap<String, String>> {
    let Some(t) = root.raw_table("sources")? else {
        return Err(root.error(
            "sources",
            "is missing; every figure needs a source (a [sources] table)",
        ));
    };
    let mut sources = BTreeMap::new();
    for (k, v) in t {
        let toml::Value::String(s) = v else {
            return Err(root.error(
                &format!("sources.{k}"),
                "expected a string naming the datasheet or paper",
            ));
        };
        if s.trim().is_empty() {
            return Err(root.error(
                &format!("sources.{k}"),
                "is empty; expected the datasheet or paper",
            ));
        }
        let covers_something = k == "*"
            || figures.iter().any(|f| {
                f == k || f.starts_with(&format!("{k}.")) || f.starts_with(&format!("{k}["))
            });
        if !covers_something {
            let close = closest(k, figures.iter().map(String::as_str));
            let hint = close
                .first()
                .map(|c| format!("; closest figure: `{c}`"))
                .unwrap_or_default();
            return Err(root.error(
                &format!("sources.{k}"),
                format!("names no figure of this file{hint}"),
            ));
        }
        sources.insert(k.clone(), s.clone());
    }
    for f in figures {
        let mut covered = sources.contains_key("*") || sources.contains_key(f);
        let mut prefix = f.as_str();
        while !covered {
            match prefix.rfind('.') {
                Some(i) => {
                    prefix = &prefix[..i];
                    covered = sources.contains_key(prefix);
                }
                None => break,
            }
        }
        // An entry of an array of tables (`serving[0]`) is covered by the array's name.
        if let (false, Some(i)) = (covered, prefix.find('[')) {
            covered = sources.contains_key(&prefix[..i]);
        }
        if !covered {
            return Err(root.error(f, "has no source; add it (or its section) to [sources]"));
        }
    }
    Ok(sources)
}

/// All embedded specs, keyed by id; lookups also see the specs a user registered ([`register`]).
pub struct Registry {
    specs: BTreeMap<String, Arc<HwSpec>>,
}

static REGISTRY: OnceLock<std::result::Result<Registry, Error>> = OnceLock::new();

/// Specs of a user's own files, registered at run time ([`register`]) and looked up by id after the embedded
/// ones, so that a system of their own can name a device of their own.
static USER_SPECS: RwLock<BTreeMap<String, Arc<HwSpec>>> = RwLock::new(BTreeMap::new());

fn user_specs() -> std::sync::RwLockReadGuard<'static, BTreeMap<String, Arc<HwSpec>>> {
    USER_SPECS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes a spec of the user's own known by its id to every model (a system's `device`, `nic` and fabrics, a
/// cluster's systems), replacing an earlier registration of the same id. An embedded id is refused (the
/// embedded spec stays what its id means; give the file another id), and so is a system or cluster naming an
/// id that is neither embedded nor registered (register the device, NIC and fabric files first).
pub fn register(spec: HwSpec) -> Result<Arc<HwSpec>> {
    let reg = registry()?;
    if let Some(e) = reg.specs.get(&spec.id) {
        return Err(Error::Hwdb {
            file: spec.file.clone(),
            key: "id".into(),
            message: format!(
                "'{}' is the id of the embedded {} ({}); give your file an id of its own to register it",
                spec.id, e.kind, e.file
            ),
        });
    }
    let named = match &spec.spec {
        Spec::System(s) => reg.check_system(&spec.file, s),
        Spec::Cluster(c) => reg.check_cluster(&spec.file, c),
        _ => Ok(()),
    };
    if let Err(Error::Hwdb { file, key, message }) = named {
        return Err(Error::Hwdb {
            file,
            key,
            message: format!(
                "{message}; register your own files first (devices, NICs and fabrics before the systems naming them)"
            ),
        });
    }
    named?;
    let spec = Arc::new(spec);
    USER_SPECS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(spec.id.clone(), spec.clone());
    Ok(spec)
}

fn build_registry() -> Result<Registry> {
    // Every file as a table first, so that references between them resolve in any order.
    let mut raw = Vec::new();
    for (path, text) in EMBEDDED_FILES {
        let (folder, stem) = path.split_once('/').unwrap_or(("", path));
        let Some((kind, _)) = KINDS.iter().find(|(_, f)| *f == folder) else {
            continue;
        };
        let file = format!("hwdb/{path}");
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Hwdb {
            file: file.clone(),
            key: String::new(),
            message: format!("not valid TOML: {}", e.to_string().trim()),
        })?;
        raw.push((file, *kind, stem, table));
    }
    let by_id: BTreeMap<&str, &toml::Table> = raw
        .iter()
        .filter_map(|(_, _, _, t)| str_at(t, "id").map(|id| (id, t)))
        .collect();
    let lookup = |id: &str| by_id.get(id).map(|t| (*t).clone());
    let mut specs = BTreeMap::new();
    for (file, kind, stem, table) in &raw {
        let resolved = resolve_references(file, table, &lookup, 0)?;
        let spec = parse_resolved(file, table.clone(), &resolved, Some(kind))?;
        let want = stem.trim_end_matches(".toml");
        if spec.id != want {
            return Err(Error::Hwdb {
                file: file.clone(),
                key: "id".into(),
                message: format!("is '{}', expected the file stem '{want}'", spec.id),
            });
        }
        specs.insert(spec.id.clone(), Arc::new(spec));
    }
    let reg = Registry { specs };
    for spec in reg.specs.values() {
        match &spec.spec {
            Spec::System(s) => reg.check_system(&spec.file, s)?,
            Spec::Cluster(c) => reg.check_cluster(&spec.file, c)?,
            _ => {}
        }
    }
    Ok(reg)
}

impl Registry {
    fn check_ref(&self, file: &str, key: &str, id: &str, kind: &str) -> Result<()> {
        match self.get(id).ok() {
            Some(x) if x.kind == kind => Ok(()),
            _ => {
                let close = closest(id, self.all_ids(kind).iter().map(String::as_str));
                let hint = close
                    .first()
                    .map(|c| format!(" (closest: '{c}')"))
                    .unwrap_or_default();
                Err(Error::Hwdb {
                    file: file.into(),
                    key: key.into(),
                    message: format!("'{id}' is not a {kind} id{hint}"),
                })
            }
        }
    }

    fn check_cluster(&self, file: &str, c: &ClusterSpec) -> Result<()> {
        for (i, g) in c.groups.iter().enumerate() {
            self.check_ref(file, &format!("groups[{i}].system"), &g.system, "system")?;
        }
        if let Some(n) = &c.fallback_nic {
            self.check_ref(file, "fallback_nic", n, "nic")?;
        }
        Ok(())
    }

    fn check_system(&self, file: &str, s: &System) -> Result<()> {
        self.check_ref(file, "device", &s.device, "device")?;
        self.check_ref(file, "nic", &s.nic, "nic")?;
        for (i, l) in s.levels.iter().enumerate() {
            self.check_ref(file, &format!("levels[{i}].fabric"), &l.fabric, "fabric")?;
        }
        Ok(())
    }

    /// Sorted ids of the embedded specs of one kind.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.specs
            .values()
            .filter(|s| s.kind == kind)
            .map(|s| s.id.clone())
            .collect()
    }

    /// Sorted ids of one kind, the embedded and the registered ([`register`]) ones.
    pub fn all_ids(&self, kind: &str) -> Vec<String> {
        let user = user_specs();
        let mut ids: Vec<String> = self
            .specs
            .values()
            .chain(user.values())
            .filter(|s| s.kind == kind)
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Whether `id` is an embedded spec's (not a registered one's).
    pub fn is_embedded(&self, id: &str) -> bool {
        self.specs.contains_key(id)
    }

    fn lookup(&self, id: &str) -> Option<Arc<HwSpec>> {
        self.specs
            .get(id)
            .cloned()
            .or_else(|| user_specs().get(id).cloned())
    }

    /// A spec by id (embedded, else registered); an unknown id names the closest ids.
    pub fn get(&self, id: &str) -> Result<Arc<HwSpec>> {
        self.lookup(id).ok_or_else(|| {
            let user = user_specs();
            Error::UnknownId {
                kind: "hwdb".into(),
                id: id.to_owned(),
                close: closest(id, self.specs.keys().chain(user.keys()).map(String::as_str)),
            }
        })
    }

    /// A spec of one kind by id (embedded, else registered).
    pub fn get_kind(&self, id: &str, kind: &str) -> Result<Arc<HwSpec>> {
        match self.lookup(id) {
            Some(s) if s.kind == kind => Ok(s.clone()),
            Some(s) => Err(Error::Hwdb {
                file: s.file.clone(),
                key: "kind".into(),
                message: format!("'{id}' is a {}, expected a {kind}", s.kind),
            }),
            None => Err(Error::UnknownId {
                kind: kind.to_owned(),
                id: id.to_owned(),
                close: closest(id, self.all_ids(kind).iter().map(String::as_str)),
            }),
        }
    }
}

/// The embedded database (parsed once).
pub fn registry() -> Result<&'static Registry> {
    REGISTRY
        .get_or_init(build_registry)
        .as_ref()
        .map_err(Clone::clone)
}

/// Checks a kind name.
pub fn check_kind(kind: &str) -> Result<()> {
    if KINDS.iter().any(|(k, _)| *k == kind) {
        Ok(())
    } else {
        let names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        let close = closest(kind, names.iter().copied());
        let hint = close
            .first()
            .map(|c| format!(" (closest: '{c}')"))
            .unwrap_or_default();
        Err(crate::error::invalid(
            "kind",
            format!("'{kind}' is not a spec kind; expected one of {names:?}{hint}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renamed(id: &str, new_id: &str, set: &[(&str, &str)]) -> HwSpec {
        let reg = registry().unwrap();
        let mut t = reg.get(id).unwrap().table.clone();
        t.insert("id".into(), toml::Value::String(new_id.into()));
        for (k, v) in set {
            t.insert((*k).into(), toml::Value::String((*v).into()));
        }
        let kind = reg.get(id).unwrap().kind;
        parse_table(&format!("{new_id}.toml"), t, Some(kind)).unwrap()
    }

    #[test]
    fn registered_specs_resolve_by_id_in_every_model() {
        let node = renamed("dgx-h100", "test-reg-node", &[("device", "test-reg-gpu")]);
        // The system names a device nobody registered yet: refused, naming the key.
        let e = register(node.clone()).unwrap_err().to_string();
        assert!(e.contains("device") && e.contains("test-reg-gpu"), "{e}");
        let gpu = renamed("h100-sxm5-80gb", "test-reg-gpu", &[]);
        register(gpu).unwrap();
        let sys = register(node).unwrap().system().unwrap();
        let reg = registry().unwrap();
        assert!(reg.all_ids("device").contains(&"test-reg-gpu".to_owned()));
        assert!(!reg.ids("device").contains(&"test-reg-gpu".to_owned()));
        assert!(!reg.is_embedded("test-reg-gpu") && reg.is_embedded("h100-sxm5-80gb"));
        // The training model builds the registered system's cluster from the registered device: the same
        // figures as the embedded H100's, so the same peak.
        let calib = crate::llm::step::Calibration::default();
        let mine = crate::llm::step::Cluster::new(&sys, 2, calib).unwrap();
        let base = registry()
            .unwrap()
            .get("dgx-h100")
            .unwrap()
            .system()
            .unwrap();
        let theirs = crate::llm::step::Cluster::new(&base, 2, calib).unwrap();
        assert_eq!(mine.peak16, theirs.peak16);
        assert_eq!(mine.capacity_bytes, theirs.capacity_bytes);
        // An embedded id cannot be registered over.
        let copy = renamed("h100-sxm5-80gb", "h100-sxm5-80gb", &[]);
        let e = register(copy).unwrap_err().to_string();
        assert!(e.contains("embedded"), "{e}");
    }

    #[test]
    fn inherited_figures_and_calibrations_resolve() {
        let reg = registry().unwrap();
        let dev = |id: &str| reg.get(id).unwrap().device().unwrap();
        let h100 = dev("h100-sxm5-80gb");
        for id in [
            "mi250x-gcd",
            "mi300x",
            "mi325x",
            "h200-sxm-141gb",
            "v100-sxm2-32gb",
        ] {
            let d = dev(id);
            assert_eq!(
                d.efficiency.attention_schedule, h100.efficiency.attention_schedule,
                "{id}"
            );
            assert!(d.efficiency.inherit_from.is_some(), "{id}");
        }
        assert_eq!(h100.efficiency.hbm_write_penalty, 0.18);
        assert_eq!(h100.efficiency.overlap_exponent, 3.0);
        assert_eq!(h100.hbm.capacity_bytes, 80.0 * 1_073_741_824.0);
        let sys = |id: &str| reg.get(id).unwrap().system().unwrap();
        let (a100, holmes) = (sys("dgx-a100"), sys("holmes-a100-eth"));
        assert_eq!(
            holmes.calibration.compute_time_scale,
            a100.calibration.compute_time_scale
        );
        assert_eq!(
            holmes
                .calibration
                .same_as
                .as_ref()
                .map(|(id, _)| id.as_str()),
            Some("dgx-a100")
        );
        assert!(holmes
            .calibration
            .fitted_on
            .starts_with("same as dgx-a100: "));
        assert_eq!(sys("dgx-v100").calibration, SystemCalibration::default());
    }

    #[test]
    fn a_reference_cycle_is_an_error_naming_the_key() {
        let a: toml::Table = "kind = \"device\"\nid = \"a\"\n[efficiency]\ninherit_from = \"b\"\n"
            .parse()
            .unwrap();
        let b: toml::Table = "kind = \"device\"\nid = \"b\"\n[efficiency]\ninherit_from = \"a\"\n"
            .parse()
            .unwrap();
        let lookup = |id: &str| match id {
            "a" => Some(a.clone()),
            "b" => Some(b.clone()),
            _ => None,
        };
        let err = resolve_references("a.toml", &a, &lookup, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("efficiency.inherit_from") && err.contains("cycle"),
            "{err}"
        );
    }
}
