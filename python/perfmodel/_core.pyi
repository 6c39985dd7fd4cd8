# Type stubs of the private extension module perfmodel._core, checked by `python -m mypy.stubtest`.
# Each domain keeps its own section below; keep sections separate.
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

_F64 = npt.NDArray[np.float64]
_U8 = npt.NDArray[np.uint8]

# ---- errors ----
def _debug_panic() -> None: ...

# ---- threads ----
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# ---- hwdb ----
@final
class HwSpec:
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def calibration(self) -> dict[str, Any]: ...
    def with_overrides(self, overrides: dict[str, Any]) -> HwSpec: ...
    def to_toml(self) -> str: ...

def hwdb_ids(kind: str, registered: bool = False) -> list[str]: ...
def hwdb_get(id: str, kind: str | None = None) -> HwSpec: ...
def hwdb_parse(text: str, file: str, register: bool = False) -> HwSpec: ...
def hwdb_register(spec: HwSpec) -> HwSpec: ...
def hwdb_is_embedded(id: str) -> bool: ...

# ---- roofline ----
# Vectorized results: time_s, flops, hbm_bytes, tflops, gbps, intensity, fraction_of_peak, bound code.
_Kernel = tuple[_F64, _F64, _F64, _F64, _F64, _F64, _F64, _U8]

def bound_names() -> list[str]: ...
def dtype_name(arg: str, value: str) -> str: ...
def roofline_gemm(
    spec: HwSpec, dtype: str, layout: str, m: _F64, n: _F64, k: _F64, batch: _F64, peak_tflops: float
) -> _Kernel: ...
def roofline_gemm_scalar(
    spec: HwSpec, dtype: str, layout: str, m: float, n: float, k: float, batch: float
) -> tuple[float, float, float, int]: ...

# tile_m, tile_n, tiles, waves, units, aligned (0/1), compute_s, memory_s.
def roofline_gemm_schedule(
    spec: HwSpec, dtype: str, layout: str, m: _F64, n: _F64, k: _F64, batch: _F64
) -> tuple[_F64, _F64, _F64, _F64, _F64, _U8, _F64, _F64]: ...
def roofline_attention(
    spec: HwSpec,
    dtype: str,
    kernel: str,
    batch: _F64,
    heads: _F64,
    seq_q: _F64,
    seq_kv: _F64,
    head_dim: _F64,
    causal: bool,
    backward: bool,
    peak_tflops: float,
) -> _Kernel: ...
def roofline_stream(
    spec: HwSpec, dtype: str, bytes_read: _F64, bytes_written: _F64, flops: _F64, peak_tflops: float
) -> _Kernel: ...

# ---- collectives ----
@final
class Cluster:
    def devices(self) -> int: ...
    def transports(self, nranks: int) -> str: ...
    def describe(self) -> list[tuple[int, str, int, int, list[tuple[str, str, str, int]]]]: ...

def collectives_cluster(
    groups: list[tuple[HwSpec, list[HwSpec], HwSpec, int]],
    fallback_nic: HwSpec | None,
    fallback_nics_per_node: int,
) -> Cluster: ...
def collectives_names() -> tuple[list[str], list[str]]: ...
def collectives_op(name: str) -> str: ...
def collectives_algorithm(name: str) -> int: ...
def collectives_predict(
    cluster: Cluster,
    op: str,
    nbytes: _F64,
    nranks: _F64,
    algorithm: _U8,
    stride: int = 1,
    concurrent: int | None = None,
) -> tuple[_F64, _U8, _F64]: ...

# ---- llm ----
def llm_model_stats(model: dict[str, float]) -> dict[str, float]: ...
def llm_estimate(
    model: dict[str, float],
    system: HwSpec | str,
    nodes: int,
    plan: dict[str, float],
    calib: tuple[float, float, float, float, float],
) -> dict[str, float]: ...
def llm_estimate_hetero(
    model: dict[str, float],
    cluster: Cluster,
    calibs: list[tuple[float, float, float, float, float]],
    plan: dict[str, float],
    placement: str,
    node_order: list[int] | None = None,
    layers: list[int] | None = None,
) -> tuple[dict[str, float], list[tuple[int, list[int], str, int, str, dict[str, float]]], str, str]: ...
def llm_search_hetero(
    model: dict[str, float],
    cluster: Cluster,
    calibs: list[tuple[float, float, float, float, float]],
    space: dict[str, list[float]],
    base: dict[str, float],
    placement: str,
    node_order: list[int] | None = None,
    start: int = 0,
    end: int | None = None,
) -> tuple[dict[str, Any], list[int], int, int, str]: ...
def llm_layer_activation_bytes(model: dict[str, float], plan: dict[str, float]) -> float: ...

@final
class LlmModel: ...

@final
class LlmCluster: ...

def llm_model_handle(model: dict[str, float]) -> LlmModel: ...
def llm_cluster_handle(
    system: HwSpec | str, nodes: int, calib: tuple[float, float, float, float, float]
) -> LlmCluster: ...
def llm_value_keys() -> tuple[list[str], list[str]]: ...
def llm_estimate_values(model: LlmModel, cluster: LlmCluster, plan: list[float]) -> list[float]: ...
def llm_collectives(
    model: dict[str, float],
    system: HwSpec | str,
    nodes: int,
    plan: dict[str, float],
    calib: tuple[float, float, float, float, float],
) -> list[tuple[str, str, str, str, str, int, int, float, float, float, float]]: ...
def llm_invalid_reasons() -> list[str]: ...
def llm_search(
    model: dict[str, float],
    system: HwSpec | str,
    nodes: int,
    calib: tuple[float, float, float, float, float],
    space: dict[str, list[float]],
    base: dict[str, float],
    start: int = 0,
    end: int | None = None,
) -> tuple[dict[str, Any], list[int], int]: ...

# ---- daq ----
@final
class DaqPipeline:
    @property
    def names(self) -> list[str]: ...
    @property
    def kinds(self) -> list[str]: ...
    @property
    def successors(self) -> list[int]: ...

def daq_pipeline(
    nodes: list[tuple[str, str, str, int | None, list[tuple[str, float]]]],
    links: list[tuple[int, int, float]],
    tables: list[tuple[list[float], list[float], list[float]]],
    year: float,
    relevant_fraction: float,
    integer_counts: bool,
    reference_year: float = 2022.0,
    scaling_rate: float = 0.18717361,
) -> DaqPipeline: ...
def daq_metric_names() -> list[str]: ...
def daq_evaluate(
    pipeline: DaqPipeline, mc_seed: int | None = None, mc_samples: int = 50000
) -> tuple[dict[str, float], list[tuple[str, list[float]]]]: ...
def daq_sweep(
    pipeline: DaqPipeline,
    targets: list[tuple[int, str]],
    columns: list[_F64],
    per_stage: bool = False,
    mc_seed: int | None = None,
    mc_samples: int = 50000,
    first_row: int = 0,
) -> tuple[int, _F64, _F64]: ...

# serving
@final
class ServeEngine:
    @property
    def fitted_on(self) -> str | None: ...
    @property
    def framework(self) -> dict[str, float]: ...
    @property
    def kv_bytes_per_token(self) -> float: ...

def serve_engine(
    model: dict[str, float],
    system: HwSpec | str,
    nodes: int,
    tp: int,
    pp: int,
    ep: int,
    dtype: str,
    kv_dtype: str,
    framework: str,
    overrides: dict[str, float],
    attention_dp: bool = False,
) -> ServeEngine: ...
def serve_iteration(
    handle: ServeEngine, prefill_seqs: _F64, prompt: _F64, cached: _F64, decode_seqs: _F64, context: _F64
) -> dict[str, _F64]: ...
def serve_memory(
    handle: ServeEngine,
    max_batched_tokens: float,
    max_seqs: float,
    fraction: float,
    of_free: bool,
    block_size: int,
) -> dict[str, float]: ...
def serve_requests(
    rate: float,
    n: int,
    prompt: tuple[str, float, float, float],
    output: tuple[str, float, float, float],
    seed: int,
) -> tuple[_F64, _F64, _F64]: ...
def serve_simulate(
    handle: ServeEngine,
    arrival: _F64,
    prompt: _F64,
    output: _F64,
    replicas: int,
    scheduler: Any,
    balancer: str,
    record_itl: bool,
    power: PowerModel | None = None,
    cap_w: float | None = None,
    max_concurrency: int | None = None,
) -> dict[str, Any]: ...
def serve_disaggregated(
    prefill: ServeEngine,
    decode: ServeEngine,
    prefill_system: HwSpec | str,
    decode_system: HwSpec | str,
    link: str,
    transfer: str,
    arrival: _F64,
    prompt: _F64,
    output: _F64,
    prefill_pool: Any,
    decode_pool: Any,
    balancer: str,
    record_itl: bool,
    prefill_power: PowerModel,
    decode_power: PowerModel,
    prefill_cap_w: float | None = None,
    decode_cap_w: float | None = None,
) -> dict[str, Any]: ...

# ---- power (perfmodel-py/src/power.rs) ----
@final
class PowerModel:
    @property
    def figures(self) -> dict[str, float]: ...
    @property
    def fitted_on(self) -> str: ...
    @property
    def device(self) -> str: ...
    def check_cap(self, cap_w: float) -> float: ...

def power_model(device: HwSpec, dtype: str, overrides: dict[str, float]) -> PowerModel: ...
def power_iteration(
    handle: ServeEngine,
    model: PowerModel,
    prefill_seqs: _F64,
    prompt: _F64,
    cached: _F64,
    decode_seqs: _F64,
    context: _F64,
    cap_w: float | None = None,
) -> dict[str, _F64]: ...
def power_operate(
    model: PowerModel,
    flops: _F64,
    hbm_bytes: _F64,
    time_s: _F64,
    host_s: _F64,
    cap_w: float | None = None,
) -> dict[str, _F64]: ...
