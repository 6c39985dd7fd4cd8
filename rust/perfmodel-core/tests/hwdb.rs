//! The embedded database loads, and bad files fail with errors naming file, key and expectation.
use perfmodel_core::hw::{self, Dtype};
use perfmodel_core::Error;

const GOOD: &str = r#"
kind = "device"
id = "toy"
name = "Toy"
vendor = "other"
[compute]
units_count = 10
boost_clock_mhz = 1000
matrix_bf16_tflops = 100
[memory]
hbm_capacity_gb = 10
hbm_bandwidth_gbps = 1000
[power]
tdp_w = 100
[efficiency]
gemm_16bit_fraction = 0.8
hbm_fraction = 0.9
attention_fraction = 0.5
tile_overhead_us = 1
launch_overhead_us = 5
fitted_on = "nothing"
[sources]
"*" = "made up for a test"
"#;

fn err_of(text: &str) -> String {
    hw::parse("toy.toml", text, None).unwrap_err().to_string()
}

#[test]
fn every_embedded_spec_loads() {
    let reg = hw::registry().unwrap();
    for kind in ["device", "nic", "fabric", "system"] {
        assert!(!reg.ids(kind).is_empty(), "no {kind}");
    }
    let devices = reg.ids("device");
    for id in [
        "v100-sxm2-32gb",
        "a100-sxm4-40gb",
        "a100-sxm4-80gb",
        "h100-sxm5-80gb",
        "h200-sxm-141gb",
        "mi250x-gcd",
        "mi300x",
        "mi325x",
    ] {
        assert!(devices.contains(&id.to_string()), "{id}");
    }
    let h100 = reg.get("h100-sxm5-80gb").unwrap().device().unwrap();
    assert_eq!(h100.matrix_peak(Dtype::Bf16), Some(989.4e12));
    assert_eq!(h100.compute_units, 132);
}

#[test]
fn good_file_parses() {
    hw::parse("toy.toml", GOOD, None).unwrap();
}

#[test]
fn unknown_key_names_closest() {
    let e = err_of(&GOOD.replace("hbm_bandwidth_gbps", "hbm_bandwdith_gbps"));
    assert!(
        e.contains("toy.toml")
            && e.contains("memory.hbm_bandwdith_gbps")
            && e.contains("memory.hbm_bandwidth_gbps"),
        "{e}"
    );
}

#[test]
fn missing_unit_is_named() {
    let e = err_of(&GOOD.replace("hbm_bandwidth_gbps", "hbm_bandwidth"));
    assert!(
        e.contains("no unit suffix") && e.contains("hbm_bandwidth_gbps"),
        "{e}"
    );
}

#[test]
fn zero_negative_nan_rejected() {
    for bad in ["0", "-5", "nan", "inf"] {
        let e = err_of(&GOOD.replace(
            "hbm_bandwidth_gbps = 1000",
            &format!("hbm_bandwidth_gbps = {bad}"),
        ));
        assert!(
            e.contains("memory.hbm_bandwidth_gbps") && e.contains("> 0"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn broken_toml_rejected() {
    let e = err_of("kind = \"device\"\nid = ");
    assert!(
        e.contains("toy.toml") && e.contains("not valid TOML"),
        "{e}"
    );
}

#[test]
fn unsourced_figure_rejected() {
    let e = err_of(&GOOD.replace("\"*\" = \"made up for a test\"", "compute = \"x\""));
    assert!(e.contains("has no source"), "{e}");
}

#[test]
fn unknown_id_suggests() {
    let reg = hw::registry().unwrap();
    match reg.get("h100-sxm-80gb").unwrap_err() {
        Error::UnknownId { close, .. } => assert_eq!(close[0], "h100-sxm5-80gb"),
        e => panic!("{e}"),
    }
}

#[test]
fn override_makes_new_spec() {
    let reg = hw::registry().unwrap();
    let h100 = reg.get("h100-sxm5-80gb").unwrap();
    let what_if = h100
        .with_overrides(&[(
            "memory.hbm_bandwidth_gbps".into(),
            toml::Value::Float(5000.0),
        )])
        .unwrap();
    assert_eq!(what_if.device().unwrap().hbm_bandwidth(), 5e12);
    assert_eq!(h100.device().unwrap().hbm_bandwidth(), 3.352e12);
    let bad = h100
        .with_overrides(&[(
            "memory.hbm_bandwith_gbps".into(),
            toml::Value::Float(5000.0),
        )])
        .unwrap_err();
    assert!(bad.to_string().contains("closest valid key"), "{bad}");
}
