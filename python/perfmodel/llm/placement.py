"""Training across node groups with different NICs: rank placement, per-communicator NIC selection and the
asymmetric pipeline partition (Holmes, Yang et al., ICPP'24, arXiv:2312.03549; docs/models/training.md#heterogeneous-nics).

Ranks follow Megatron-LM's order (pipeline outermost, then data, context, tensor innermost) over the nodes in
placement order, so a pipeline stage is a contiguous block of ``tp * cp * dp`` ranks and only pipeline
sends cross stage boundaries. Placements:

- ``"naive"``: nodes as listed (launch order) and one network setting for the whole job: on a cluster mixing
  NIC transports every inter-node communicator runs over the network joining the groups (TCP), as
  Megatron-LM does when launched across an InfiniBand and a RoCE cluster;
- ``"nic-aware"``: nodes grouped by NIC transport, each communicator on its own RDMA fabric when all its
  nodes share one (Holmes's cross-cluster pipeline with automatic NIC selection);
- a list of node indices: the user's order, with per-communicator selection.

``layers_per_stage="auto"`` (default) picks the layers of each stage to minimize the predicted step and
says why; a list gives them explicitly (Holmes's ``--hetero-pipeline-stages``).

>>> import perfmodel as pm
>>> c = pm.cluster([("holmes-a100-ib", 2), ("holmes-a100-roce", 2)])
>>> e = pm.llm.estimate("megatron-39b", c, tp=8, pp=2, micro_batch=4, global_batch=1536,
...                     placement="nic-aware", layers_per_stage=[26, 22])
>>> e.layers_per_stage
[26, 22]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import polars as pl

from .. import _check as check
from .. import _core
from .._api import keyword_options
from ..cluster import Cluster
from ..errors import InvalidArgumentError
from . import Estimate, _calib_tuple, _estimate_fields, _plan_numbers

__all__ = ["PlacedEstimate", "estimate_placed", "compare_placements", "PLACEMENTS"]

#: Named placements.
PLACEMENTS: tuple[str, ...] = ("naive", "nic-aware")


@dataclass(frozen=True, repr=False)
class PlacedEstimate(Estimate):
    """An :class:`perfmodel.llm.Estimate` on a cluster of node groups, with the stages as placed.

    Everything an :class:`~perfmodel.llm.Estimate` has (step time in s, memory in bytes, MFU...), plus:

    Attributes
    ----------
    placement : str
        The placement used (``"naive"``, ``"nic-aware"`` or ``"user"``).
    layers_per_stage : list of int
        Transformer layers of each pipeline stage.
    stages : polars.DataFrame
        One row per pipeline stage: ``stage``, ``group`` (node group index), ``system``, ``nodes``,
        ``transport`` (its data-parallel network), ``layers``, the stage's times in seconds (``forward_s``,
        ``backward_s``, ``recompute_s``, ``micro_batch_s``, ``tp_comm_s``, ``dp_comm_s``, ``p2p_s``,
        ``optimizer_s``), ``memory_bytes`` and ``capacity_bytes`` (bytes per GPU) and ``p2p_transport`` (the
        send to the next stage; empty for the last).
    reason : str
        How the layers per stage were chosen.

    Examples
    --------
    >>> import perfmodel as pm
    >>> c = pm.cluster([("holmes-a100-ib", 2), ("holmes-a100-roce", 2)])
    >>> e = pm.llm.estimate("megatron-39b", c, tp=8, pp=2, micro_batch=4, global_batch=1536)
    >>> e.placement, e.layers_per_stage
    ('nic-aware', [24, 24])
    >>> e.stages.select("system", "transport", "p2p_transport").rows()
    [('holmes-a100-ib', 'infiniband(cx6-hdr200)', 'tcp(eth-100g)'), ('holmes-a100-roce', 'roce(cx6-roce200)', '')]
    """

    placement: str = "nic-aware"
    layers_per_stage: list[int] = field(default_factory=list)
    stages: pl.DataFrame = field(default_factory=pl.DataFrame)
    reason: str = ""

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, placement {self.placement}, layers per stage {self.layers_per_stage})"


def _calibs(
    cluster: Cluster, calib: dict[str, float] | str | None
) -> list[tuple[float, float, float, float, float]]:
    return [_calib_tuple(g["system"].id, calib) for g in cluster.groups]


def placement_order(placement: Any) -> tuple[str, list[int] | None]:
    """The engine's (name, node order) for a ``placement`` argument: a strategy name or a list of node indices."""
    if isinstance(placement, str):
        return placement, None
    try:
        return "user", check.choices("placement", placement, lambda n, v: check.whole(n, v, 0))
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"{e}; expected {list(PLACEMENTS)} or a list of node indices") from None


def estimate_placed(
    model: Any,
    cluster: Cluster,
    plan: dict[str, Any],
    placement: str | Sequence[int] = "nic-aware",
    layers_per_stage: str | Sequence[int] | None = "auto",
    calib: dict[str, float] | str | None = None,
) -> PlacedEstimate:
    """One plan (``plan`` as :func:`perfmodel.llm.estimate` builds it) on a :func:`perfmodel.cluster`."""
    name, order = placement_order(placement)
    if layers_per_stage is None or (isinstance(layers_per_stage, str) and layers_per_stage == "auto"):
        layers = None
    elif isinstance(layers_per_stage, str):
        raise InvalidArgumentError(
            f"argument `layers_per_stage`: is {layers_per_stage!r}; expected 'auto' or a list of layers per stage"
        )
    else:
        layers = check.choices("layers_per_stage", layers_per_stage, check.whole)
    raw, rows, placed, reason = _core.llm_estimate_hetero(
        model.fields, cluster._handle, _calibs(cluster, calib), _plan_numbers(plan), name, order, layers
    )
    stages = pl.DataFrame(
        {
            "stage": list(range(len(rows))),
            "group": [r[0] for r in rows],
            "system": [cluster.groups[r[0]]["system"].id for r in rows],
            "nodes": [r[1] for r in rows],
            "transport": [r[2] for r in rows],
            "layers": [r[3] for r in rows],
            **{k: [r[5][k] for r in rows] for k in rows[0][5]},
            "p2p_transport": [r[4] for r in rows],
        }
    )
    return PlacedEstimate(
        **_estimate_fields(plan, raw),
        placement=placed,
        layers_per_stage=[r[3] for r in rows],
        stages=stages,
        reason=reason,
    )


@keyword_options()
def compare_placements(
    model: Any,
    cluster: Cluster,
    placements: Sequence[str | Sequence[int]] = PLACEMENTS,
    layers_per_stage: str | Sequence[int] | None = "auto",
    **plan: Any,
) -> pl.DataFrame:
    """Placements side by side: step time, TFLOP/s per GPU, MFU, DP/PP communication and the partition.

    Parameters
    ----------
    model : Model, str or dict
        A model, preset id or dict of fields.
    cluster : Cluster
        A :func:`perfmodel.cluster` (typically node groups with different NICs).
    placements : sequence of str or sequence of int
        The placements to compare: names (``"naive"``, ``"nic-aware"``; default both) or node orders.
    layers_per_stage : str or sequence of int, optional
        ``"auto"`` (default: chosen per placement to minimize the step) or the layers of each stage.
    **plan
        The keyword arguments of :func:`perfmodel.llm.estimate` (``tp``, ``pp``, ``micro_batch``,
        ``global_batch``...).

    Returns
    -------
    polars.DataFrame
        One row per placement: ``placement``, ``layers_per_stage``, ``step_time_s`` (s), ``tflops_per_gpu``
        (TFLOP/s), ``mfu`` (fraction), ``tokens_per_s``, ``dp_comm_s``, ``pp_comm_s``, ``bubble_s`` (exposed,
        s), ``transports`` (each stage's data-parallel network, ``|``-separated) and ``fits``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> c = pm.cluster([("holmes-a100-ib", 2), ("holmes-a100-roce", 2)])
    >>> df = pm.llm.compare_placements("megatron-39b", c, tp=8, pp=2, micro_batch=4, global_batch=1536)
    >>> df["placement"].to_list(), df["tflops_per_gpu"].round(1).to_list()
    (['naive', 'nic-aware'], [149.1, 155.3])
    """
    from . import estimate

    rows = []
    for pl_ in placements:
        e = cast(
            PlacedEstimate, estimate(model, cluster, placement=pl_, layers_per_stage=layers_per_stage, **plan)
        )
        rows.append(
            {
                "placement": e.placement if isinstance(pl_, str) else f"user {list(pl_)}",
                "layers_per_stage": e.layers_per_stage,
                "step_time_s": e.step_time_s,
                "tflops_per_gpu": e.tflops_per_gpu,
                "mfu": e.mfu,
                "tokens_per_s": e.tokens_per_s,
                "dp_comm_s": e.raw["dp_comm"],
                "pp_comm_s": e.raw["pp_comm"],
                "bubble_s": e.raw["bubble"],
                "transports": " | ".join(e.stages["transport"].to_list()),
                "fits": e.fits,
            }
        )
    return pl.DataFrame(rows)
