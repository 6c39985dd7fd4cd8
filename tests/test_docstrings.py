"""Every public function and class has a numpy-style docstring a reader can act on (issue 16.3): a summary,
``Parameters`` (when it takes any), ``Returns`` with units, and a doctested ``Examples`` section.

The doctests themselves run in CI (``pytest --doctest-modules --pyargs perfmodel``); this test checks that the
sections are there, so a new public function cannot land without them.
"""

from __future__ import annotations

import inspect
import re

import perfmodel as pm
import pytest

#: Public functions (and methods a user calls directly) that must have Parameters, Returns and Examples.
FUNCTIONS = {
    "perfmodel.cluster": pm.cluster,
    "perfmodel.set_num_threads": pm.set_num_threads,
    "perfmodel.get_num_threads": pm.get_num_threads,
    "perfmodel.Cluster.transports": pm.Cluster.transports,
    "perfmodel.Cluster.describe": pm.Cluster.describe,
    "perfmodel.hwdb.ids": pm.hwdb.ids,
    "perfmodel.hwdb.get": pm.hwdb.get,
    "perfmodel.hwdb.load": pm.hwdb.load,
    "perfmodel.hwdb.parse": pm.hwdb.parse,
    "perfmodel.hwdb.resolve": pm.hwdb.resolve,
    "perfmodel.hwdb.systems_with": pm.hwdb.systems_with,
    "perfmodel.hwdb.Spec.with_overrides": pm.hwdb.Spec.with_overrides,
    "perfmodel.hwdb.Spec.peak_tflops": pm.hwdb.Spec.peak_tflops,
    "perfmodel.roofline.gemm": pm.roofline.gemm,
    "perfmodel.roofline.gemm_time": pm.roofline.gemm_time,
    "perfmodel.roofline.attention": pm.roofline.attention,
    "perfmodel.roofline.memory_bound": pm.roofline.memory_bound,
    "perfmodel.collectives.predict": pm.collectives.predict,
    "perfmodel.collectives.busbw_factor": pm.collectives.busbw_factor,
    "perfmodel.nccl_tests.read": pm.nccl_tests.read,
    "perfmodel.nccl_tests.parse": pm.nccl_tests.parse,
    "perfmodel.nccl_tests.compare": pm.nccl_tests.compare,
    "perfmodel.nccl_tests.calibrate": pm.nccl_tests.calibrate,
    "perfmodel.llm.model": pm.llm.model,
    "perfmodel.llm.presets": pm.llm.presets,
    "perfmodel.llm.estimate": pm.llm.estimate,
    "perfmodel.llm.search": pm.llm.search,
    "perfmodel.llm.search_full": pm.llm.search_full,
    "perfmodel.llm.calibration": pm.llm.calibration,
    "perfmodel.llm.layer_activation_bytes": pm.llm.layer_activation_bytes,
    "perfmodel.llm.compare_placements": pm.llm.compare_placements,
    "perfmodel.llm.sizing": pm.llm.sizing,
    "perfmodel.llm.sizing_sweep": pm.llm.sizing_sweep,
    "perfmodel.llm.sizing_rules": pm.llm.sizing_rules,
    "perfmodel.llm.Estimate.energy": pm.llm.Estimate.energy,
    "perfmodel.llm.Model.flops_per_token": pm.llm.Model.flops_per_token,
    "perfmodel.serve.engine": pm.serve.engine,
    "perfmodel.serve.iteration": pm.serve.iteration,
    "perfmodel.serve.prefill": pm.serve.prefill,
    "perfmodel.serve.decode": pm.serve.decode,
    "perfmodel.serve.memory": pm.serve.memory,
    "perfmodel.serve.simulate": pm.serve.simulate,
    "perfmodel.serve.max_throughput": pm.serve.max_throughput,
    "perfmodel.serve.search": pm.serve.search,
    "perfmodel.serve.max_rate": pm.serve.max_rate,
    "perfmodel.serve.disaggregated": pm.serve.disaggregated,
    "perfmodel.serve.split_search": pm.serve.split_search,
    "perfmodel.serve.mix.capacity": pm.serve.mix.capacity,
    "perfmodel.serve.mix.workload": pm.serve.mix.workload,
    "perfmodel.serve.cheapest_mix": pm.serve.cheapest_mix,
    "perfmodel.serve.requests": pm.serve.requests,
    "perfmodel.serve.read_requests": pm.serve.read_requests,
    "perfmodel.serve.plans": pm.serve.plans,
    "perfmodel.serve.framework_defaults": pm.serve.framework_defaults,
    "perfmodel.serve.mix.trace_requests": pm.serve.mix.trace_requests,
    "perfmodel.serve.mix.price": pm.serve.mix.price,
    "perfmodel.power.model": pm.power.model,
    "perfmodel.power.check_cap": pm.power.check_cap,
    "perfmodel.power.node_power": pm.power.node_power,
    "perfmodel.power.oversubscription": pm.power.oversubscription,
    "perfmodel.power.step_energy": pm.power.step_energy,
    "perfmodel.daq.preset": pm.daq.preset,
    "perfmodel.daq.load": pm.daq.load,
    "perfmodel.daq.lever_sweep": pm.daq.lever_sweep,
    "perfmodel.daq.levers": pm.daq.levers,
    "perfmodel.daq.lever_values": pm.daq.lever_values,
    "perfmodel.daq.calibrate_skill": pm.daq.calibrate_skill,
    "perfmodel.daq.device_unit_time_s": pm.daq.device_unit_time_s,
    "perfmodel.daq.Pipeline.detector": pm.daq.Pipeline.detector,
    "perfmodel.daq.Pipeline.stage": pm.daq.Pipeline.stage,
    "perfmodel.daq.Pipeline.storage": pm.daq.Pipeline.storage,
    "perfmodel.daq.Pipeline.link": pm.daq.Pipeline.link,
    "perfmodel.daq.Pipeline.with_values": pm.daq.Pipeline.with_values,
    "perfmodel.daq.Pipeline.evaluate": pm.daq.Pipeline.evaluate,
    "perfmodel.daq.Pipeline.sweep": pm.daq.Pipeline.sweep,
}

#: Public classes: results (their figures under ``Attributes``, with units) and inputs (under ``Parameters``),
#: each with an example.
CLASSES = {
    "perfmodel.Cluster": pm.Cluster,
    "perfmodel.hwdb.Spec": pm.hwdb.Spec,
    "perfmodel.llm.Model": pm.llm.Model,
    "perfmodel.llm.Estimate": pm.llm.Estimate,
    "perfmodel.llm.SearchResult": pm.llm.SearchResult,
    "perfmodel.llm.PlacedEstimate": pm.llm.PlacedEstimate,
    "perfmodel.llm.Sizing": pm.llm.Sizing,
    "perfmodel.serve.Iteration": pm.serve.Iteration,
    "perfmodel.serve.MemoryReport": pm.serve.MemoryReport,
    "perfmodel.serve.Phase": pm.serve.Phase,
    "perfmodel.serve.Simulation": pm.serve.Simulation,
    "perfmodel.serve.MaxRate": pm.serve.MaxRate,
    "perfmodel.serve.Pool": pm.serve.Pool,
    "perfmodel.serve.Disaggregation": pm.serve.Disaggregation,
    "perfmodel.serve.SplitSearch": pm.serve.SplitSearch,
    "perfmodel.serve.mix.Workload": pm.serve.mix.Workload,
    "perfmodel.serve.mix.MixResult": pm.serve.mix.MixResult,
    "perfmodel.serve.FrameworkDefaults": pm.serve.FrameworkDefaults,
    "perfmodel.power.PowerModel": pm.power.PowerModel,
    "perfmodel.daq.Pipeline": pm.daq.Pipeline,
    "perfmodel.daq.Evaluation": pm.daq.Evaluation,
    "perfmodel.daq.Gaussian": pm.daq.Gaussian,
    "perfmodel.daq.Rates": pm.daq.Rates,
    "perfmodel.daq.Empirical": pm.daq.Empirical,
}

#: The error classes: what each means and an example that raises it.
ERRORS = {
    name: getattr(pm, name)
    for name in (
        "PerfModelError",
        "HwdbError",
        "InvalidArgumentError",
        "UnsupportedError",
        "ModelError",
        "LogParseError",
    )
}
ERRORS["serve.mix.NoAllocationError"] = pm.serve.mix.NoAllocationError


def _headers(lines: list[str]) -> list[int]:
    """Indices of the numpy section headers among ``lines`` (a title line underlined by dashes)."""
    return [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip() and not lines[i].startswith(" ") and re.fullmatch(r"-{3,}", lines[i + 1].strip())
    ]


def _sections(doc: str) -> dict[str, list[str]]:
    """The numpy sections of ``doc`` by title, each as its lines (the underline left out)."""
    lines = doc.splitlines()
    heads = _headers(lines)
    return {
        lines[h].strip(): lines[h + 2 : (heads[k + 1] if k + 1 < len(heads) else len(lines))]
        for k, h in enumerate(heads)
    }


def _takes_parameters(fn: object) -> bool:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    return any(name not in ("self", "cls") for name in sig.parameters)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_public_function_docstring_has_every_section(name):
    fn = FUNCTIONS[name]
    doc = inspect.getdoc(fn) or ""
    assert doc, f"{name} has no docstring"
    sections = _sections(doc)
    missing = [s for s in ("Returns", "Examples") if s not in sections]
    if _takes_parameters(fn) and "Parameters" not in sections:
        missing.insert(0, "Parameters")
    assert not missing, f"{name}: docstring lacks {missing}"
    examples = "\n".join(sections["Examples"])
    assert ">>>" in examples, f"{name}: the Examples section has no doctest"
    assert "+SKIP" not in examples, f"{name}: the example is skipped; it must run"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_parameter_is_documented(name):
    """Each parameter of the signature has an entry under ``Parameters`` (``name``, ``name : type``, or one of
    ``a, b`` sharing an entry; ``**name`` for keyword options)."""
    fn = FUNCTIONS[name]
    entries: set[str] = set()
    for line in _sections(inspect.getdoc(fn) or "").get("Parameters", []):
        if line.strip() and not line[0].isspace():
            head = line.split(" : ", 1)[0]
            entries.update(part.strip().lstrip("*") for part in head.split(","))
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
    undocumented = [p for p in params if p not in entries]
    assert not undocumented, f"{name}: parameters without an entry under Parameters: {undocumented}"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_public_class_docstring_has_attributes_and_an_example(name):
    cls = CLASSES[name]
    doc = inspect.getdoc(cls) or ""
    assert doc, f"{name} has no docstring"
    sections = _sections(doc)
    assert {"Attributes", "Parameters"} & set(sections), f"{name}: docstring lacks Attributes (or Parameters)"
    assert "Examples" in sections, f"{name}: docstring lacks Examples"
    examples = "\n".join(sections["Examples"])
    assert ">>>" in examples and "+SKIP" not in examples, f"{name}: the example must run"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_class_docstring_has_an_example(name):
    sections = _sections(inspect.getdoc(ERRORS[name]) or "")
    examples = "\n".join(sections.get("Examples", []))
    assert ">>>" in examples and "+SKIP" not in examples, (
        f"perfmodel.{name}: docstring lacks a running example"
    )
