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
    """A cluster of node groups, their fabrics and NICs resolved. Build it with :func:`perfmodel.cluster`.

    Attributes
    ----------
    groups : list of dict
        One dict per node group: ``system`` (the system :class:`~perfmodel.hwdb.Spec`), ``nodes`` (count),
        ``fabrics`` (one fabric spec per topology level, innermost first, what-if substitutions applied) and
        ``nic`` (the NIC spec).
    fallback_nic : perfmodel.hwdb.Spec or None
        The NIC a communicator spanning different NIC transports falls back to (TCP sockets); None when the
        groups share no network.
    devices : int
        Devices (GPUs, GCDs) in the cluster, all groups.

    Examples
    --------
    >>> import perfmodel as pm
    >>> c = pm.cluster("dgx-h100", 2)
    >>> c
    Cluster(2x dgx-h100; 16 devices)
    >>> c.groups[0]["nic"].id, c.fallback_nic.id
    ('cx7-ndr400', 'eth-100g')
    """

    __slots__ = ("_handle", "groups", "fallback_nic")

    def __init__(
        self, handle: _core.Cluster, groups: list[dict[str, Any]], fallback_nic: Spec | None
    ) -> None:
        self._handle = handle
        self.groups = groups
        self.fallback_nic = fallback_nic

    @property
    def devices(self) -> int:
        """Devices (GPUs, GCDs) in the cluster, all groups."""
        return int(self._handle.devices())

    def transports(self, nranks: int) -> str:
        """The transport of each level a communicator of ``nranks`` ranks spans, innermost first.

        Parameters
        ----------
        nranks : int
            Ranks of the communicator, a whole number >= 1: the first ``nranks`` devices, innermost topology
            level first, node by node, group by group.

        Returns
        -------
        str
            ``level:transport(spec)`` for each level crossed, joined by ``+`` (``tcp(<fallback nic>)`` where
            the communicator spans groups whose NICs use different transports).

        Examples
        --------
        >>> import perfmodel as pm
        >>> c = pm.cluster("dgx-h100", 2)
        >>> c.transports(8)
        'node:nvlink(nvlink4-nvswitch)'
        >>> c.transports(16)
        'node:nvlink(nvlink4-nvswitch)+scale-out:infiniband(cx7-ndr400)'
        """
        return self._handle.transports(check.whole("nranks", nranks))

    def describe(self) -> list[dict[str, Any]]:
        """The cluster's node groups and their topology levels, as plain values.

        Returns
        -------
        list of dict
            One dict per group: ``group`` (index), ``system`` (id), ``nodes``, ``devices_per_node`` and
            ``levels``, innermost first, each a dict of ``name``, ``spec`` (the fabric or NIC id),
            ``transport`` and ``size`` (members of the level: devices in a node, nodes across the scale-out
            network).

        Examples
        --------
        >>> import perfmodel as pm
        >>> g = pm.cluster("dgx-h100", 2).describe()[0]
        >>> g["system"], g["nodes"], g["devices_per_node"]
        ('dgx-h100', 2, 8)
        >>> [(lv["name"], lv["transport"], lv["size"]) for lv in g["levels"]]
        [('node', 'nvlink', 8), ('scale-out', 'infiniband', 2)]
        """
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
        Nodes of ``system``, a whole number >= 1 (ignored when ``system`` is a list of groups or an hwdb
        cluster).
    specs
        What-if substitutions: ``{fabric id or level name or nic id or "nic": spec}``; e.g. a calibrated
        fabric from :func:`perfmodel.nccl_tests.calibrate` or
        ``pm.hwdb.get("cx7-ndr400").with_overrides(...)``.
    fallback_nic, fallback_nics_per_node
        The NIC (TCP sockets, an hwdb NIC id or spec; default ``"eth-100g"``, or the hwdb cluster's own) a
        communicator spanning different NIC transports uses, and how many of them each node has (a whole
        number >= 1); ``None`` when the groups share no network, so that such a communicator is an error.

    Returns
    -------
    Cluster
        The cluster: its groups, fabrics and NICs resolved, ``devices`` in all.

    Raises
    ------
    perfmodel.HwdbError
        An unknown system, fabric or NIC id (the message names the closest ids).
    perfmodel.InvalidArgumentError
        A malformed group list, a ``specs`` key naming no level or NIC of the system, or more devices than the
        engine accepts.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.cluster("dgx-h100", 4)
    Cluster(4x dgx-h100; 32 devices)
    >>> het = pm.cluster([("dgx-a100", 2), ("mi300x-pollara-node", 2)])
    >>> het.transports(32)
    'node:nvlink(nvlink3-nvswitch)+scale-out:tcp(eth-100g)'

    A what-if NIC at half its fitted bandwidth fraction:

    >>> slow = pm.hwdb.get("cx7-ndr400").with_overrides({"efficiency.bandwidth_fraction": 0.5})
    >>> pm.cluster("dgx-h100", 2, specs={"cx7-ndr400": slow}).groups[0]["nic"].overrides
    {'efficiency.bandwidth_fraction': 0.5}
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
