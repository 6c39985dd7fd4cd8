"""The hardware database: devices, NICs, fabrics and systems as strict, sourced TOML (``hwdb/README.md``).

Examples
--------
>>> import perfmodel as pm
>>> h100 = pm.hwdb.get("h100-sxm5-80gb")
>>> h100.peak_tflops("bf16")
989.4
>>> fast = h100.with_overrides({"memory.hbm_bandwidth_gbps": 5000})
>>> fast.hbm_bandwidth_gbps
5000.0
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any, cast

from . import _check as check
from . import _core
from .errors import HwdbError

__all__ = ["Spec", "ids", "get", "load", "parse", "register", "resolve", "systems_with", "KINDS"]

KINDS = ("device", "nic", "fabric", "system")


class Spec:
    """An immutable hardware spec: a device, NIC, fabric, system or cluster of the hardware database.

    ``spec["memory.hbm_bandwidth_gbps"]`` reads any field by dotted key (:class:`perfmodel.HwdbError` naming
    the file when absent), ``spec.get(key, default)`` reads it or gives ``default``; fields carry their unit
    in their name (``_gbps`` GB/s = 10^9 bytes/s, ``_tflops`` TFLOP/s, ``_w`` W, ``_gib`` 2^30 bytes, ``_gb``
    10^9 bytes, ``_us`` microseconds). Get one with :func:`get`, :func:`load` or :func:`parse`; never built
    directly.

    Attributes
    ----------
    id : str
        The hwdb id (``"h100-sxm5-80gb"``).
    kind : str
        ``"device"``, ``"nic"``, ``"fabric"``, ``"system"`` or ``"cluster"``.
    name : str
        The product name.
    file : str
        The file the spec was read from (``hwdb/devices/...`` for embedded specs, ``"<string>"`` for
        :func:`parse` without a file name).
    overrides : dict
        The fields :meth:`with_overrides` replaced, by dotted key (empty for a spec as its file has it).
    hbm_bandwidth_gbps : float
        Devices: HBM bandwidth, GB/s (10^9 bytes/s).
    hbm_capacity_bytes, hbm_capacity_gib, hbm_capacity_gb : float
        Devices: HBM capacity in bytes, GiB (2^30 bytes) and vendor GB (10^9 bytes).

    Examples
    --------
    >>> import perfmodel as pm
    >>> h100 = pm.hwdb.get("h100-sxm5-80gb")
    >>> h100
    Spec(device 'h100-sxm5-80gb': NVIDIA H100 SXM5 80GB)
    >>> h100.kind, h100.hbm_capacity_gib, round(h100.hbm_capacity_gb, 1)
    ('device', 80.0, 85.9)
    >>> h100["memory.hbm_bandwidth_gbps"]
    3352
    """

    __slots__ = ("_handle", "_dict", "_memo", "overrides")

    def __init__(self, handle: _core.HwSpec, overrides: dict[str, Any] | None = None) -> None:
        self._handle = handle
        self._dict: dict[str, Any] = handle.to_dict()
        #: What callers derived from this (immutable) spec, for reuse (e.g. the LLM calibration).
        self._memo: dict[str, Any] = {}
        #: The fields :meth:`with_overrides` replaced, by dotted key (empty for a spec as its file has it).
        self.overrides: dict[str, Any] = dict(overrides or {})

    @property
    def id(self) -> str:
        """The hwdb id."""
        return self._handle.id

    @property
    def kind(self) -> str:
        """``"device"``, ``"nic"``, ``"fabric"``, ``"system"`` or ``"cluster"``."""
        return self._handle.kind

    @property
    def name(self) -> str:
        """The product name."""
        return self._handle.name

    @property
    def file(self) -> str:
        """The file the spec was read from."""
        return self._handle.file

    def to_dict(self) -> dict[str, Any]:
        """The fields as nested dicts, exactly as in the TOML file (sources included)."""
        return self._handle.to_dict()

    def __getitem__(self, dotted: str) -> Any:
        node: Any = self._dict
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise HwdbError(f"{self.file}: no key `{dotted}` in {self.kind} '{self.id}'")
            node = node[part]
        return node

    def get(self, dotted: str, default: Any = None) -> Any:
        """The field at dotted key ``dotted``, or ``default`` when the spec has none."""
        try:
            return self[dotted]
        except HwdbError:
            return default

    def with_overrides(self, overrides: dict[str, Any] | None = None, **flat: Any) -> Spec:
        """A new spec with fields replaced by dotted key, validated exactly like a file: a what-if device.

        Parameters
        ----------
        overrides : dict, optional
            ``{dotted key: value}``, e.g. ``{"memory.hbm_bandwidth_gbps": 5000}`` (the key's unit as in the
            file: GB/s here).
        **flat
            The same by keyword, ``__`` for the dots: ``with_overrides(memory__hbm_bandwidth_gbps=5000)``.

        Returns
        -------
        Spec
            A new spec (this one is unchanged) whose :attr:`overrides` lists every field replaced so far.

        Raises
        ------
        perfmodel.HwdbError
            An unknown key or a value outside the field's domain.

        Examples
        --------
        >>> import perfmodel as pm
        >>> fast = pm.hwdb.get("h100-sxm5-80gb").with_overrides(memory__hbm_bandwidth_gbps=5000)
        >>> fast.hbm_bandwidth_gbps, fast.overrides
        (5000.0, {'memory.hbm_bandwidth_gbps': 5000})
        """
        merged = dict(overrides or {})
        merged.update({k.replace("__", "."): v for k, v in flat.items()})
        return Spec(self._handle.with_overrides(merged), {**self.overrides, **merged})

    # Convenience readers for devices.
    def peak_tflops(self, dtype: str = "bf16", unit: str = "matrix") -> float | None:
        """The device's dense peak for ``dtype`` on its matrix or vector units.

        Parameters
        ----------
        dtype : str
            ``"fp64"``, ``"fp32"``, ``"tf32"``, ``"bf16"``, ``"fp16"``, ``"fp8"``, ``"int8"`` (TOP/s), or a
            block-scaled format the device lists (``"fp6"``, ``"nvfp4"``, ``"mxfp4"``).
        unit : str
            ``"matrix"`` (tensor/matrix cores, default) or ``"vector"`` (the SIMD units).

        Returns
        -------
        float or None
            Dense peak, TFLOP/s (10^12 FLOP/s; TOP/s for int8); None when the spec lists none.

        Examples
        --------
        >>> import perfmodel as pm
        >>> h100 = pm.hwdb.get("h100-sxm5-80gb")
        >>> h100.peak_tflops("bf16"), h100.peak_tflops("fp64", "vector")
        (989.4, 33.5)
        """
        suffix = "tops" if dtype == "int8" else "tflops"
        peak = self.get(f"compute.{unit}_{dtype}_{suffix}")
        return None if peak is None else float(peak)

    @property
    def hbm_bandwidth_gbps(self) -> float:
        """HBM bandwidth, GB/s (10^9 bytes/s), from ``memory.hbm_bandwidth_gbps``."""
        return float(self["memory.hbm_bandwidth_gbps"])

    @property
    def hbm_capacity_bytes(self) -> float:
        """HBM capacity in bytes, from ``memory.hbm_capacity_gib`` (2^30 bytes) or ``memory.hbm_capacity_gb``
        (10^9 bytes), whichever unit the datasheet uses."""
        gib = self.get("memory.hbm_capacity_gib")
        return float(gib) * 2**30 if gib is not None else float(self["memory.hbm_capacity_gb"]) * 1e9

    @property
    def hbm_capacity_gib(self) -> float:
        """HBM capacity in GiB (2^30 bytes)."""
        return self.hbm_capacity_bytes / 2**30

    @property
    def hbm_capacity_gb(self) -> float:
        """HBM capacity in vendor GB (10^9 bytes): an 80 GiB H100 is 85.9 GB."""
        return self.hbm_capacity_bytes / 1e9

    def to_toml(self) -> str:
        """The spec as TOML text (the hwdb file format), written by a TOML library with every float exact:
        :func:`parse` of it gives an equal spec. Keys come in sorted order; comments are not kept."""
        return self._handle.to_toml()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its engine handle, which travels as its hwdb id or its TOML text (never raw memory).
        return (Spec, (self._handle, self.overrides))

    def __repr__(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self.overrides.items())
        return f"Spec({self.kind} '{self.id}': {self.name}" + (
            f"; overridden: {changed})" if changed else ")"
        )

    def _repr_html_(self) -> str:
        """Every field by dotted key, overridden ones marked (notebooks)."""
        import html

        rows = []
        for key, value in _dotted(self._dict):
            if key.startswith("sources.") or key in ("id", "kind", "name"):
                continue
            mark = " (overridden)" if key in self.overrides else ""
            rows.append(
                f"<tr><td style='text-align:left'><code>{html.escape(key)}</code></td>"
                f"<td style='text-align:right'>{html.escape(repr(value))}{mark}</td></tr>"
            )
        return f"<div><p><b>{html.escape(repr(self))}</b></p><table>{''.join(rows)}</table></div>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.id))


def _dotted(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.extend(_dotted(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def ids(kind: str, registered: bool = False) -> list[str]:
    """The embedded hwdb ids of one kind, sorted; with ``registered``, those of your own files too.

    Parameters
    ----------
    kind : str
        ``"device"``, ``"nic"``, ``"fabric"``, ``"system"`` or ``"cluster"``.
    registered : bool
        Also the ids registered in this process (:func:`register`, :func:`load`; default False).

    Returns
    -------
    list of str
        The ids, sorted.

    Examples
    --------
    >>> import perfmodel as pm
    >>> "h100-sxm5-80gb" in pm.hwdb.ids("device"), "dgx-h100" in pm.hwdb.ids("system")
    (True, True)
    """
    return list(_core.hwdb_ids(kind, check.flag("registered", registered)))


#: Embedded specs already wrapped, by (id, kind): they never change, so one object each.
_EMBEDDED: dict[tuple[str, str | None], Spec] = {}


def get(id: str, kind: str | None = None) -> Spec:
    """An embedded spec by id.

    Parameters
    ----------
    id : str
        An hwdb id (a :class:`Spec` is returned as is).
    kind : str, optional
        ``"device"``, ``"nic"``, ``"fabric"``, ``"system"`` or ``"cluster"``: the id must be of that kind
        (None: any kind).

    Returns
    -------
    Spec
        The spec (one object per id: embedded specs never change).

    Raises
    ------
    perfmodel.HwdbError
        An unknown id (the message names the closest ids) or one of another kind.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.hwdb.get("dgx-h100")
    Spec(system 'dgx-h100': NVIDIA DGX H100 (8x H100 SXM5 80GB))
    >>> pm.hwdb.get("dgx-h100")["devices_per_node_count"]
    8
    """
    if isinstance(id, Spec):
        return id
    spec = _EMBEDDED.get((id, kind))
    if spec is None:
        try:
            spec = Spec(_core.hwdb_get(id, kind))
        except HwdbError as exc:
            if isinstance(id, str) and id.endswith(".toml"):
                raise HwdbError(
                    f"{exc}; '{id}' is a file name, not an id: load a file of your own with "
                    "pm.hwdb.load(path) and pass the spec where the id goes (on the command line, "
                    "`perfmodel report` and `perfmodel roofline` take a device file)"
                ) from None
            raise
        if type(id) is str:
            _EMBEDDED[(id, kind)] = spec
    return spec


def parse(text: str, file: str = "<string>") -> Spec:
    """A spec from TOML text in the hwdb format (``hwdb/README.md``), validated as strictly as an embedded
    file.

    Parameters
    ----------
    text : str
        The TOML text.
    file : str
        The name errors (and :attr:`Spec.file`) give the text.

    Returns
    -------
    Spec
        The spec.

    Raises
    ------
    perfmodel.HwdbError
        Malformed TOML, an unknown or missing key, or a value outside its domain (naming ``file`` and the
        key).

    Examples
    --------
    >>> import perfmodel as pm
    >>> text = pm.hwdb.get("h100-sxm5-80gb").to_toml()
    >>> pm.hwdb.parse(text) == pm.hwdb.get("h100-sxm5-80gb")
    True
    """
    return Spec(_core.hwdb_parse(text, file))


def _read(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    try:
        return p, p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HwdbError(f"{p}: cannot read hwdb file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise HwdbError(
            f"{p}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); TOML files are UTF-8"
        ) from None


def load(path: str | Path) -> Spec:
    """A user's hwdb TOML file (a device, NIC, fabric or system not embedded, or a what-if copy of one).

    A file whose id is not embedded is also registered (:func:`register`): every model then knows it by its id,
    so a system file of your own can name a device file of your own (load the device first). A file that keeps
    an embedded id (a what-if copy) is not registered: pass the returned spec itself.

    Parameters
    ----------
    path : str or pathlib.Path
        The file (UTF-8 TOML in the hwdb format).

    Returns
    -------
    Spec
        The spec, :attr:`Spec.file` set to ``path``.

    Raises
    ------
    perfmodel.HwdbError
        An unreadable or non-UTF-8 file, or a bad one (naming the file and the key).

    Warns
    -----
    UserWarning
        A system (or cluster) file naming a device, NIC or fabric id that is neither embedded nor registered:
        it loads, and :func:`perfmodel.cluster` and the collectives take its spec, but it is not registered
        until the files it names are loaded first.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import perfmodel as pm
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "my-h100.toml"
    >>> _ = path.write_text(pm.hwdb.get("h100-sxm5-80gb").to_toml())
    >>> pm.hwdb.load(path)
    Spec(device 'h100-sxm5-80gb': NVIDIA H100 SXM5 80GB)
    """
    p, text = _read(path)
    spec = parse(text, str(p))
    if _core.hwdb_is_embedded(spec.id):
        return spec
    try:
        return _register(spec)
    except HwdbError as exc:
        warnings.warn(
            f"{exc}. The spec loads, but is not registered: load the files it names first, then this one "
            "(docs/add_your_own_gpu.md, 'Use the files')",
            UserWarning,
            stacklevel=2,
        )
        return spec


def register(spec: Spec | str | Path) -> Spec:
    """Makes a spec of your own (or the file at a path) known by its id to every model.

    After ``register``, the id works wherever an embedded id does: a system of your own naming your device,
    ``pm.serve``, ``pm.llm.estimate``, ``pm.power``, the CLI. Registering the same id again replaces it (in this
    process; a registered spec that is pickled registers again where it is unpickled). :func:`load` registers
    the files it reads.

    Parameters
    ----------
    spec : Spec, str or pathlib.Path
        A spec (:func:`parse`, or an embedded one's ``with_overrides`` given a new ``id``) or a TOML file's path.

    Returns
    -------
    Spec
        The registered spec.

    Raises
    ------
    perfmodel.HwdbError
        An embedded id (give your file an id of its own), or a system or cluster naming an id that is neither
        embedded nor registered (naming the key and the closest ids).

    Examples
    --------
    >>> import perfmodel as pm
    >>> mine = pm.hwdb.parse(pm.hwdb.get("h100-sxm5-80gb").to_toml().replace(
    ...     'id = "h100-sxm5-80gb"', 'id = "my-h100"'))
    >>> pm.hwdb.register(mine).id
    'my-h100'
    >>> "my-h100" in pm.hwdb.ids("device", registered=True)
    True
    """
    if not isinstance(spec, Spec):
        p, text = _read(spec)
        spec = parse(text, str(p))
    return _register(spec)


#: Callables that drop what other modules cached by hwdb id (serving engines, resolved clusters, power
#: laws); :func:`register` runs them, since a registered id may now mean another spec.
_AFTER_REGISTER: list[Any] = []


def _register(spec: Spec) -> Spec:
    out = Spec(_core.hwdb_register(spec._handle))
    _id_set.cache_clear()
    # Registered specs wrapped earlier, and whatever was built from them, may depend on the id just
    # (re)registered (a system on its device): dropped, so the next lookup by id builds them afresh.
    for key in [k for k in _EMBEDDED if not _core.hwdb_is_embedded(k[0])]:
        _EMBEDDED.pop(key)._memo.clear()
    for drop in _AFTER_REGISTER:
        drop()
    return out


def _not_embedded(system: Spec) -> str:
    """Why a system whose device is neither embedded nor registered cannot give that device."""
    return (
        f"{system.file}: system '{system.id}' names device '{system['device']}', which is neither embedded "
        "(`perfmodel hwdb list device`) nor registered: load your device file first (pm.hwdb.load), then the "
        "system file (docs/add_your_own_gpu.md, 'Use the files')"
    )


@functools.cache
def _id_set(kind: str) -> frozenset[str]:
    """The embedded and registered ids of one kind (cleared by :func:`register`)."""
    return frozenset(_core.hwdb_ids(kind, True))


def systems_with(device: Spec | str) -> list[str]:
    """The embedded systems whose nodes hold ``device``.

    Parameters
    ----------
    device : str or Spec
        A device id or spec.

    Returns
    -------
    list of str
        System ids, sorted (empty when no embedded system holds the device).

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.hwdb.systems_with("h100-sxm5-80gb")
    ['dgx-h100']
    """
    dev_id = device.id if isinstance(device, Spec) else str(device)
    return [s for s in ids("system") if get(s, "system").get("device") == dev_id]


def resolve(hardware: Any, kind: str, argument: str | None = None) -> Spec:
    """The one hardware argument every function takes, as the ``kind`` of spec that function needs.

    ``hardware`` may be an id (device, system), a :class:`Spec`, a ``(system, nodes)`` pair or a
    :class:`perfmodel.Cluster`:

    - ``kind="device"`` (a kernel, a power model, sizing): a system, pair or cluster gives the device its
      nodes hold (a cluster whose groups hold different devices is an error naming them);
    - ``kind="system"`` (anything with a node's fabric and NICs): a pair or a one-group cluster gives its
      system; a device is an error listing the systems that hold it;
    - other kinds (``nic``, ``fabric``): an id or spec of that kind.

    Parameters
    ----------
    hardware : str, Spec, tuple or Cluster
        An id, a spec, ``(system, nodes)`` or a :class:`perfmodel.Cluster`.
    kind : str
        The kind of spec wanted: ``"device"``, ``"system"``, ``"nic"`` or ``"fabric"``.
    argument : str, optional
        The caller's name for ``hardware``, put in error messages.

    Returns
    -------
    Spec
        The spec of kind ``kind``.

    Raises
    ------
    perfmodel.HwdbError
        Naming the closest ids (and ``argument``, where given).

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.hwdb.resolve(("dgx-h100", 2), "device")
    Spec(device 'h100-sxm5-80gb': NVIDIA H100 SXM5 80GB)
    >>> pm.hwdb.resolve(pm.cluster("dgx-h100", 2), "system").id
    'dgx-h100'
    >>> pm.hwdb.resolve("h100-sxm5-80gb", "system", "where")
    Traceback (most recent call last):
        ...
    perfmodel.errors.HwdbError: argument `where`: 'h100-sxm5-80gb' is a device; this needs a system (a node with its fabric and NICs): systems with this device: dgx-h100
    """
    if argument is None:
        return _resolve(hardware, kind)
    try:
        return _resolve(hardware, kind)
    except HwdbError as exc:
        raise HwdbError(f"argument `{argument}`: {exc}") from None


def _resolve(hardware: Any, kind: str) -> Spec:
    if isinstance(hardware, tuple) and len(hardware) == 2 and kind in ("device", "system"):
        return _resolve(hardware[0], kind)
    if hasattr(hardware, "groups") and hasattr(hardware, "devices") and kind in ("device", "system"):
        systems = [g["system"] for g in hardware.groups]
        if kind == "system":
            if len(systems) != 1:
                raise HwdbError(
                    f"a cluster of {len(systems)} node groups ({', '.join(s.id for s in systems)}) where one "
                    "system is needed: give the system id or a cluster of one group"
                )
            return cast(Spec, systems[0])
        devices = sorted({_resolve(s, "device").id for s in systems})
        if len(devices) != 1:
            raise HwdbError(
                f"a cluster of different devices ({', '.join(devices)}) where one device is needed"
            )
        return get(devices[0], "device")
    if isinstance(hardware, Spec):
        spec = hardware
    elif isinstance(hardware, str):
        hit = _EMBEDDED.get((hardware, kind))
        if hit is not None:
            return hit
        if kind == "device" and hardware in _id_set("system"):
            spec = get(hardware, "system")
        elif kind == "system" and hardware in _id_set("device"):
            spec = get(hardware, "device")
        else:
            spec = get(hardware, kind)
    else:
        raise HwdbError(
            f"expected a {kind} id or spec"
            + (", a (system, nodes) pair or a cluster" if kind in ("device", "system") else "")
            + f", got {type(hardware).__name__} {hardware!r}"
        )
    if spec.kind == kind:
        return spec
    if kind == "device" and spec.kind == "system":
        if str(spec["device"]) not in _id_set("device"):
            raise HwdbError(_not_embedded(spec))
        return get(str(spec["device"]), "device")
    if kind == "system" and spec.kind == "device":
        holders = systems_with(spec)
        raise HwdbError(
            f"'{spec.id}' is a device; this needs a system (a node with its fabric and NICs)"
            + (
                f": systems with this device: {', '.join(holders)}"
                if holders
                else ": no embedded system holds it"
            )
        )
    raise HwdbError(f"'{spec.id}' is a {spec.kind}, expected a {kind}")
