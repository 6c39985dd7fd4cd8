"""Clusters: groups of identical nodes of an hwdb system, with their fabrics and NICs resolved.

A communicator of ``nranks`` takes the first ``nranks`` devices, innermost topology level first, node by
node, group by group. A communicator spanning groups whose NICs use different transports falls back to
TCP over the cluster's fallback NIC (``eth-100g`` by default; the Holmes rule, docs/models/collectives.md#heterogeneous-nics).

Examples
--------
>>> import perfmodel as pm
>>> c = pm.cluster("dgx-h100", 4)
>>> c.devices
32
>>> c.transports(16)
'node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _check as check
from . import _core
from ._api import keyword_options
from .errors import InvalidArgumentError
from .hwdb import Spec, get, resolve

__all__ = ["Cluster", "cluster"]


class Cluster:
    """A cluster of node groups. Build it with :func:`perfmodel.cluster`."""

    __slots__ = ("_handle", "groups", "fallback_nic")

    def __init__(
        self, handle: _core.Cluster, groups: list[dict[str, Any]], fallback_nic: Spec | None
    ) -> None:
        self._handle = handle
        self.groups = groups
        self.fallback_nic = fallback_nic

    @property
    def devices(self) -> int:
        """Devices (GPUs, GCDs) in the cluster."""
        return int(self._handle.devices())

    def transports(self, nranks: int) -> str:
        """The transport of each level a communicator of ``nranks`` spans, innermost first."""
        return self._handle.transports(check.whole("nranks", nranks))

    def describe(self) -> list[dict[str, Any]]:
        """One dict per group: system, nodes, devices per node and its levels (name, spec, transport, size)."""
        out = []
        for i, system, nodes, dpn, levels in self._handle.describe():
            out.append(
                {
                    "group": i,
                    "system": system,
                    "nodes": nodes,
                    "devices_per_node": dpn,
                    "levels": [
                        dict(zip(("name", "spec", "transport", "size"), lv, strict=True)) for lv in levels
                    ],
                }
            )
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{g['nodes']}x {g['system'].id}" for g in self.groups)
        return f"Cluster({parts}; {self.devices} devices)"


def _group(system: Spec | str, nodes: int, overrides: Mapping[str, Spec | str] | None) -> dict[str, Any]:
    sysspec = resolve(system, "system")
    nodes = check.whole("nodes", nodes)
    overrides = dict(overrides or {})
    levels = sysspec["levels"]
    fabrics = []
    for lv in levels:
        f = overrides.pop(lv["fabric"], None) or overrides.pop(lv["name"], None) or lv["fabric"]
        fabrics.append(resolve(f, "fabric"))
    nic_spec = overrides.pop(sysspec["nic"], None) or overrides.pop("nic", None) or sysspec["nic"]
    nic = resolve(nic_spec, "nic")
    if overrides:
        valid = [lv["fabric"] for lv in levels] + [lv["name"] for lv in levels] + [sysspec["nic"], "nic"]
        raise InvalidArgumentError(
            f"argument `specs`: {sorted(overrides)} name no level or NIC of system '{sysspec.id}'; expected keys among {valid}"
        )
    return {"system": sysspec, "nodes": nodes, "fabrics": fabrics, "nic": nic}


def _cluster_spec(system: Any) -> Spec | None:
    """The hwdb cluster spec ``system`` names, if it names one."""
    if isinstance(system, Spec):
        return system if system.kind == "cluster" else None
    if isinstance(system, str):
        try:
            return get(system, "cluster")
        except KeyError:
            return None
    return None


@keyword_options(2)
def cluster(
    system: Spec | str | Sequence[tuple[Spec | str, int]],
    nodes: int = 1,
    *,
    specs: Mapping[str, Spec | str] | None = None,
    fallback_nic: Spec | str | None = "eth-100g",
    fallback_nics_per_node: int = 1,
) -> Cluster:
    """A cluster of ``nodes`` nodes of ``system`` (an hwdb id or spec), or of several node groups.

    Parameters
    ----------
    system
        A system id/spec, an hwdb cluster id/spec (``kind = "cluster"``: node groups and the network joining
        them, e.g. ``holmes-4ib-4roce``), or a list of ``(system, nodes)`` groups for a heterogeneous cluster
        (e.g. A100 nodes with InfiniBand and A100 nodes with RoCE).
    nodes
        Nodes of ``system`` (ignored when ``system`` is a list of groups).
    specs
        What-if substitutions: ``{fabric id or level name or nic id or "nic": spec}``; e.g. a calibrated fabric
        from :func:`perfmodel.nccl_tests.calibrate` or ``pm.hwdb.get("cx7-ndr400").with_overrides(...)``.
    fallback_nic, fallback_nics_per_node
        The NIC (TCP sockets) a communicator spanning different NIC transports uses; ``None`` when the groups
        share no network, so that such a communicator is an error.

    >>> import perfmodel as pm
    >>> het = pm.cluster([("dgx-a100", 2), ("mi300x-pollara-node", 2)])
    >>> het.transports(32)
    'node:nvlink(nvlink3-nvswitch)+scale-out:tcp(eth-100g)'
    """
    spec = _cluster_spec(system)
    if spec is not None:
        # An hwdb cluster: its groups, and its joining network unless the call names one.
        system = [(g["system"], int(g["nodes_count"])) for g in spec["groups"]]
        if fallback_nic == "eth-100g":
            fallback_nic = spec.get("fallback_nic")
            fallback_nics_per_node = int(spec.get("fallback_nics_per_node_count", 1))
    if isinstance(system, (str, Spec)):
        groups = [_group(system, nodes, specs)]
    else:
        try:
            items = list(system)
        except TypeError:
            raise InvalidArgumentError(
                f"argument `system`: expected a system id, a spec or a list of (system, nodes), got {system!r}"
            ) from None
        if not items:
            raise InvalidArgumentError("argument `system`: the list of node groups is empty")
        groups = []
        for item in items:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise InvalidArgumentError(
                    f"argument `system`: each group must be a (system, nodes) tuple, got {item!r}"
                )
            groups.append(_group(item[0], item[1], specs))
    devices = sum(g["nodes"] * int(g["system"]["devices_per_node_count"]) for g in groups)
    if devices > check.MAX_COUNT:
        raise InvalidArgumentError(
            f"argument `nodes`: the cluster would have {devices:,} devices; at most {check.MAX_COUNT:,}"
        )
    fallback_nics_per_node = check.whole("fallback_nics_per_node", fallback_nics_per_node)
    if fallback_nic is None:
        fb = None
    else:
        fb = get(fallback_nic, "nic") if isinstance(fallback_nic, str) else resolve(fallback_nic, "nic")
    handle = _core.collectives_cluster(
        [
            (g["system"]._handle, [f._handle for f in g["fabrics"]], g["nic"]._handle, g["nodes"])
            for g in groups
        ],
        None if fb is None else fb._handle,
        fallback_nics_per_node,
    )
    return Cluster(handle, groups, fb)
