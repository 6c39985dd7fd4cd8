"""Defining a DAQ pipeline in Python and evaluating it with the Rust engine (``perfmodel_core::daq``).

Model (SystemFlow, Olin-Ammentorp, Wu & Chien, arXiv:2407.00123; equations in ``docs/models/daq.md``):
compute power = energy per op x complexity(message bytes) x input rate; link power = energy per bit x 8 x
bytes x output rate; power is divided by the CMOS scaling factor ``exp(0.18717361 (year - 2022))``; each
trigger keeps ``1/RR`` of its input, split between relevant and irrelevant events by its classifier.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import _check as check
from .. import _core
from .._arrays import as_columns
from .._display import Result
from ..errors import InvalidArgumentError, ModelError

__all__ = ["Gaussian", "Rates", "Empirical", "Pipeline", "Evaluation", "METRICS"]

#: Metric columns of an evaluation or a sweep, in engine order.
METRICS: tuple[str, ...] = tuple(_core.daq_metric_names())

_NODE_FIELDS = (
    "sample_rate_hz",
    "data_bytes",
    "compression",
    "reduction_ratio",
    "energy_per_op_j",
    "complexity_scale",
    "units",
    "unit_cost",
    "unit_time_s",
    "utilization",
)


@dataclass(frozen=True)
class Gaussian:
    """A score classifier: negative scores ~ N(0, 1), positive scores ~ N(skill, sigma^2); the threshold is
    solved deterministically for the stage's reduction ratio (SystemFlow ``GaussianClassifier``).

    Parameters
    ----------
    skill : float
        Mean of the relevant events' scores, in standard deviations of the irrelevant ones.
    sigma : float
        Standard deviation of the relevant events' scores (default 1).

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.daq.Gaussian(2.0)
    Gaussian(skill=2.0, sigma=1.0)
    """

    skill: float
    sigma: float = 1.0

    def _spec(self) -> tuple[str, dict[str, float]]:
        return "gaussian", {"skill": float(self.skill), "sigma": float(self.sigma)}


@dataclass(frozen=True)
class Rates:
    """A classifier given by its true- and false-positive rates; the stage's output rate follows from them
    (its reduction ratio is used only for the detectors' relevant fraction ``1/G``).

    Parameters
    ----------
    tpr, fpr : float
        True- and false-positive rates, fractions.

    Examples
    --------
    >>> import perfmodel as pm
    >>> pm.daq.Rates(tpr=0.95, fpr=0.01)
    Rates(tpr=0.95, fpr=0.01)
    """

    tpr: float
    fpr: float

    def _spec(self) -> tuple[str, dict[str, float]]:
        return "rates", {"tpr": float(self.tpr), "fpr": float(self.fpr)}


@dataclass(frozen=True)
class Empirical:
    """A classifier from tabulated score CDFs of irrelevant (``cdf_neg``) and relevant (``cdf_pos``) events on
    a grid ``x``, linearly interpolated; ``shift`` is added to relevant scores (SystemFlow's ``skill_boost``).

    Parameters
    ----------
    x : tuple of float
        The score grid, increasing.
    cdf_neg, cdf_pos : tuple of float
        The CDFs of irrelevant and relevant scores on ``x``, fractions.
    shift : float
        Added to the relevant scores (default 0).

    Examples
    --------
    >>> import perfmodel as pm
    >>> c = pm.daq.Empirical.from_efficiency_curve([0, 1, 2], [1.0, 0.9, 0.5], [1.0, 0.3, 0.05])
    >>> c.cdf_neg  # 1 - background efficiency
    (0.0, 0.7, 0.95)
    """

    x: tuple[float, ...]
    cdf_neg: tuple[float, ...]
    cdf_pos: tuple[float, ...]
    shift: float = 0.0

    @classmethod
    def from_efficiency_curve(
        cls,
        thresholds: Sequence[float],
        signal_efficiency: Sequence[float],
        background_efficiency: Sequence[float],
        shift: float = 0.0,
    ) -> Empirical:
        """From a trigger-efficiency curve: the fraction of relevant (signal) and irrelevant (background)
        events passing each threshold, so ``cdf = 1 - efficiency``."""
        x = tuple(float(v) for v in thresholds)
        return cls(
            x,
            tuple(1.0 - float(v) for v in background_efficiency),
            tuple(1.0 - float(v) for v in signal_efficiency),
            shift,
        )

    @classmethod
    def from_scores(cls, negative: Any, positive: Any, points: int = 512, shift: float = 0.0) -> Empirical:
        """From samples of scores of irrelevant and relevant events (empirical CDFs on ``points`` grid points)."""
        neg = np.sort(np.asarray(negative, dtype=np.float64))
        pos = np.sort(np.asarray(positive, dtype=np.float64))
        if neg.size < 2 or pos.size < 2:
            raise InvalidArgumentError("argument `negative`/`positive`: need at least 2 scores of each class")
        grid = np.linspace(min(neg[0], pos[0]), max(neg[-1], pos[-1]), points)
        cn = np.searchsorted(neg, grid, side="right") / neg.size
        cp = np.searchsorted(pos, grid, side="right") / pos.size
        return cls(tuple(grid.tolist()), tuple(cn.tolist()), tuple(cp.tolist()), shift)

    def _spec(self) -> tuple[str, dict[str, float]]:
        return "empirical", {"skill": float(self.shift)}


Classifier = Gaussian | Rates | Empirical | None


@dataclass
class _Node:
    name: str
    kind: str
    values: dict[str, float]
    complexity: tuple[float, ...] = (0.0, 1.0)
    classifier: Classifier = None
    to: str | None = None
    link_energy_per_bit_j: float = 0.0


@dataclass(frozen=True)
class Evaluation(Result):
    """Metrics of one evaluation (:meth:`Pipeline.evaluate`): powers in W at the pipeline's technology year,
    and a per-stage table.

    ``energy_per_relevant_j`` is ``None`` when no relevant sample reaches storage, and ``relevant_per_kj``
    when the pipeline draws no power (the ratios are undefined there; sweeps show them as nulls). ``e["f1"]``
    reads any metric by name.

    Attributes
    ----------
    metrics : dict of str to float
        Every metric of :data:`METRICS`: ``power_w`` (W, at the pipeline's technology year),
        ``compute_power_w`` and ``link_power_w`` (W),
    ``power_unscaled_w`` (W at the reference year 2022's technology), ``scale_factor`` (the CMOS scaling
    ``S(year)``), ``precision``, ``recall``, ``f1`` and ``accuracy`` (fractions), ``tp_per_s``, ``fp_per_s``,
    ``tn_per_s``, ``fn_per_s`` (events per second), ``output_rate_hz`` (events/s reaching storage),
    ``relevant_per_s`` (F1 x output rate), ``relevant_per_kj`` (relevant samples per kJ),
    ``energy_per_relevant_j`` (J per relevant sample), ``units`` (farm units) and ``cost`` (sum of units x
    unit cost, in the unit costs' currency: USD in the presets). stages : polars.DataFrame
        One row per stage: ``stage``, ``kind`` (detector, processor, storage), ``message_bytes`` and
        ``output_bytes`` (bytes per event), ``input_rate_hz`` and ``output_rate_hz`` (events/s),
        ``ops_per_event``, ``energy_per_event_j`` (J), ``compute_power_w``, ``link_power_w`` and ``power_w``
        (W), ``link_throughput_bytes_per_s`` and ``link_throughput_bits_per_s`` (the outgoing link's load:
        output bytes per event x output rate, and 8x that),
        ``global_ratio`` (product of the reduction ratios downstream), ``threshold`` (the classifier's),
        ``tn_rate``, ``fn_rate``, ``fpr``, ``tpr`` (the column-normalised error matrix, fractions),
        ``rejected_negatives_per_s``, ``rejected_positives_per_s``, ``passed_negatives_per_s``,
        ``passed_positives_per_s`` (events/s), ``units`` and ``cost``.
    power_w, f1, precision, recall, relevant_per_kj, energy_per_relevant_j, output_rate_hz, cost : float
        The headline metrics, as in ``metrics``.

    Examples
    --------
    >>> import perfmodel as pm
    >>> e = pm.daq.preset("cms-run5").evaluate()
    >>> f"{e.power_w / 1e6:.1f} MW", f"F1 {e.f1:.3f}", f"{e.output_rate_hz:,.0f} Hz"
    ('51.6 MW', 'F1 0.386', '7,504 Hz')
    >>> e.stages.filter(e.stages["stage"] == "L1T")["output_rate_hz"].to_list()
    [750468.0]
    """

    metrics: dict[str, float | None]
    stages: pl.DataFrame

    power_w: float = field(init=False)
    f1: float = field(init=False)
    precision: float = field(init=False)
    recall: float = field(init=False)
    relevant_per_kj: float | None = field(init=False)
    energy_per_relevant_j: float | None = field(init=False)
    output_rate_hz: float = field(init=False)
    cost: float = field(init=False)

    def __post_init__(self) -> None:
        for name in (
            "power_w",
            "f1",
            "precision",
            "recall",
            "relevant_per_kj",
            "energy_per_relevant_j",
            "output_rate_hz",
            "cost",
        ):
            object.__setattr__(self, name, self.metrics[name])

    def __getitem__(self, name: str) -> float | None:
        return self.metrics[name]

    def to_dict(self) -> dict[str, float | None]:
        return dict(self.metrics)


#: Ratio metrics the engine gives as inf where their denominator is zero; shown as None/null (undefined).
_RATIOS = ("relevant_per_kj", "energy_per_relevant_j")

#: The most Monte Carlo scores per class an evaluation draws (memory grows with it: 16 bytes per score).
MAX_MC_SAMPLES = 10_000_000


def _mc_args(mc_seed: Any, mc_samples: Any) -> tuple[int | None, int]:
    """Checked Monte Carlo arguments: a seed in [0, 2^64) or None, samples in [1, MAX_MC_SAMPLES]."""
    return check.optional_whole("mc_seed", mc_seed, 0, 2**64 - 1), check.whole(
        "mc_samples", mc_samples, 2, MAX_MC_SAMPLES
    )


def _num(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise InvalidArgumentError(f"argument `{where}`: `{key}` must be a number, got {value!r}")
    return float(value)


class Pipeline:
    """A DAQ pipeline: detectors -> processing/trigger stages -> one storage root.

    Build it with :meth:`detector`, :meth:`stage`, :meth:`storage` and :meth:`link` (each returns the
    pipeline), or load it from TOML (:func:`perfmodel.daq.load`, :func:`perfmodel.daq.preset`). Values are
    changed by ``"stage.parameter"`` keys (:meth:`with_values`, :meth:`sweep`).

    Parameters
    ----------
    name : str
        The pipeline's name (default ``"pipeline"``).
    year : float
        CMOS technology year: powers are divided by ``exp(0.18717361 (year - 2022))`` (default 2022).
    relevant_fraction : float, optional
        Fraction of detector samples that are relevant (default: the classifiers' own).
    integer_counts : bool
        Truncate event counts to whole events per class, as SystemFlow does (default True).

    Examples
    --------
    >>> import perfmodel as pm
    >>> p = pm.daq.Pipeline(year=2022)
    >>> _ = p.detector("Pixels", sample_rate_hz=1e6, data_bytes=1000, to="Trigger", link_energy_per_bit_j=1e-11)
    >>> _ = p.stage("Trigger", reduction_ratio=10, classifier=pm.daq.Gaussian(3.0), energy_per_op_j=1e-6, to="Disk")
    >>> _ = p.storage("Disk")
    >>> int(round(p.evaluate().output_rate_hz, -3))  # 1 MHz / RR 10 (counts truncated per class, as SystemFlow)
    100000
    """

    def __init__(
        self,
        name: str = "pipeline",
        year: float = 2022,
        relevant_fraction: float | None = None,
        integer_counts: bool = True,
    ):
        self.name = name
        self.year = float(year)
        self.relevant_fraction = relevant_fraction
        self.integer_counts = integer_counts
        self._nodes: dict[str, _Node] = {}
        self._compiled: Any = None
        self.meta: dict[str, Any] = {}

    # -- definition -------------------------------------------------------------------------------------
    def _add(self, node: _Node) -> Pipeline:
        if node.name in self._nodes:
            raise ModelError(f"stage '{node.name}' is defined twice")
        self._nodes[node.name] = node
        self._compiled = None
        return self

    def _values(self, name: str, **kw: Any) -> dict[str, float]:
        return {k: _num(f"stage '{name}'", k, v) for k, v in kw.items() if v is not None}

    def detector(
        self,
        name: str,
        *,
        sample_rate_hz: float,
        data_bytes: float,
        compression: float = 0.0,
        energy_per_op_j: float = 0.0,
        complexity: Sequence[float] = (0.0, 1.0),
        to: str | None = None,
        link_energy_per_bit_j: float = 0.0,
        units: float = 0.0,
        unit_cost: float = 0.0,
    ) -> Pipeline:
        """Add a detector sampling ``sample_rate_hz`` times a second, ``data_bytes`` per sample.

        Parameters
        ----------
        name : str
            The detector's name (unique in the pipeline).
        sample_rate_hz : float
            Samples per second.
        data_bytes : float
            Bytes per sample.
        compression : float
            Compression of the data, a fraction removed (default 0).
        energy_per_op_j : float
            Energy per op of the detector's own processing, J (default 0).
        complexity : sequence of float
            Polynomial coefficients ``k0, k1, k2, k3`` of ops per event in the message size (bytes; default
            ``(0, 1)``).
        to : str, optional
            The stage it sends its data to.
        link_energy_per_bit_j : float
            Energy of its outgoing link, J per bit (default 0).
        units, unit_cost : float
            Hardware units and the cost of each (default 0).

        Returns
        -------
        Pipeline
            The pipeline itself (calls chain).

        Examples
        --------
        >>> import perfmodel as pm
        >>> p = pm.daq.Pipeline().detector("Pixels", sample_rate_hz=40e6, data_bytes=1440000, to="L1")
        >>> p.names, p.kind("Pixels")
        (['Pixels'], 'detector')
        """
        vals = self._values(
            name,
            sample_rate_hz=sample_rate_hz,
            data_bytes=data_bytes,
            compression=compression,
            energy_per_op_j=energy_per_op_j,
            units=units,
            unit_cost=unit_cost,
        )
        return self._add(
            _Node(name, "detector", vals, tuple(complexity), None, to, float(link_energy_per_bit_j))
        )

    def stage(
        self,
        name: str,
        *,
        to: str | None = None,
        data_bytes: float = 0.0,
        reduction_ratio: float = 1.0,
        classifier: Classifier = None,
        energy_per_op_j: float = 0.0,
        complexity: Sequence[float] = (0.0, 1.0),
        complexity_scale: float = 1.0,
        compression: float = 0.0,
        link_energy_per_bit_j: float = 0.0,
        units: float = 0.0,
        unit_cost: float = 0.0,
        unit_time_s: float = 0.0,
        utilization: float = 1.0,
    ) -> Pipeline:
        """Add a processing or trigger stage.

        Parameters
        ----------
        name : str
            The stage's name (unique in the pipeline).
        to : str, optional
            The stage it sends its data to.
        data_bytes : float
            Bytes the stage adds per event (default 0).
        reduction_ratio : float
            Events in per event out (a trigger keeps ``1/RR``; default 1).
        classifier : Gaussian, Rates, Empirical or None
            How the trigger splits the kept events between relevant and irrelevant ones (default None).
        energy_per_op_j : float
            Energy per op, J (default 0).
        complexity : sequence of float
            Polynomial coefficients ``k0, k1, k2, k3`` of ops per event in the message size (bytes; default
            ``(0, 1)``).
        complexity_scale : float
            Multiplies the ops per event (default 1).
        compression : float
            Compression of the outgoing data, a fraction removed (default 0).
        link_energy_per_bit_j : float
            Energy of the outgoing link, J per bit (default 0).
        units, unit_cost : float
            Fixed hardware units and the cost of each (default 0).
        unit_time_s : float
            Seconds one farm unit needs per op: sizes a farm (default 0: no farm).
        utilization : float
            The farm's utilization, a fraction (default 1).

        Returns
        -------
        Pipeline
            The pipeline itself (calls chain).

        Examples
        --------
        >>> import perfmodel as pm
        >>> p = pm.daq.Pipeline().stage("L1", reduction_ratio=53.3, classifier=pm.daq.Gaussian(1.86), to="Disk")
        >>> p.get("L1.reduction_ratio"), p.get("L1.skill")
        (53.3, 1.86)
        """
        vals = self._values(
            name, data_bytes=data_bytes, reduction_ratio=reduction_ratio, energy_per_op_j=energy_per_op_j, complexity_scale=complexity_scale,
            compression=compression, units=units, unit_cost=unit_cost, unit_time_s=unit_time_s, utilization=utilization,
        )  # fmt: skip
        return self._add(
            _Node(name, "processor", vals, tuple(complexity), classifier, to, float(link_energy_per_bit_j))
        )

    def storage(
        self,
        name: str = "Storage",
        *,
        energy_per_op_j: float = 0.0,
        complexity: Sequence[float] = (0.0, 1.0),
        units: float = 0.0,
        unit_cost: float = 0.0,
    ) -> Pipeline:
        """Add the storage root (one per pipeline).

        Parameters
        ----------
        name : str
            Its name (default ``"Storage"``).
        energy_per_op_j : float
            Energy per op, J (default 0).
        complexity : sequence of float
            Polynomial coefficients of ops per event in the message size (default ``(0, 1)``).
        units, unit_cost : float
            Hardware units and the cost of each (default 0).

        Returns
        -------
        Pipeline
            The pipeline itself (calls chain).

        Examples
        --------
        >>> import perfmodel as pm
        >>> pm.daq.Pipeline().storage("Disk").kind("Disk")
        'storage'
        """
        vals = self._values(name, energy_per_op_j=energy_per_op_j, units=units, unit_cost=unit_cost)
        return self._add(_Node(name, "storage", vals, tuple(complexity)))

    def link(self, source: str, target: str, energy_per_bit_j: float = 0.0) -> Pipeline:
        """Connect ``source`` to ``target`` (each node sends its data to one successor).

        Parameters
        ----------
        source, target : str
            Stage names.
        energy_per_bit_j : float
            Energy of the link, J per bit (default 0).

        Returns
        -------
        Pipeline
            The pipeline itself (calls chain).

        Raises
        ------
        perfmodel.ModelError
            ``source`` already sends to another stage.
        perfmodel.InvalidArgumentError
            An unknown stage (naming the closest).

        Examples
        --------
        >>> import perfmodel as pm
        >>> p = pm.daq.Pipeline().detector("Pixels", sample_rate_hz=1e6, data_bytes=1000).storage("Disk")
        >>> p.link("Pixels", "Disk", energy_per_bit_j=2e-11).get("Pixels.link_energy_per_bit_j")
        2e-11
        """
        node = self._node(source)
        if node.to is not None and node.to != target:
            raise ModelError(
                f"stage '{source}' has two outgoing links (to '{node.to}' and '{target}'); each stage sends its data to one successor"
            )
        node.to = target
        node.link_energy_per_bit_j = _num(
            f"link '{source}' -> '{target}'", "energy_per_bit_j", energy_per_bit_j
        )
        self._compiled = None
        return self

    def _node(self, name: str) -> _Node:
        if name not in self._nodes:
            import difflib

            close = difflib.get_close_matches(name, list(self._nodes), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InvalidArgumentError(f"argument `stage`: no stage named '{name}'{hint}")
        return self._nodes[name]

    @property
    def names(self) -> list[str]:
        return list(self._nodes)

    def kind(self, name: str) -> str:
        return self._node(name).kind

    def get(self, key: str) -> float:
        """The value of ``"stage.parameter"`` (or ``"year"``)."""
        if key == "year":
            return self.year
        stage, fld = self._split(key)
        node = self._node(stage)
        if fld == "link_energy_per_bit_j":
            return node.link_energy_per_bit_j
        if fld == "skill" and node.classifier is not None:
            return float(node.classifier._spec()[1].get("skill", 0.0))
        if fld.startswith("complexity_k"):
            i = int(fld[-1])
            return node.complexity[i] if i < len(node.complexity) else 0.0
        default = {"reduction_ratio": 1.0, "complexity_scale": 1.0, "utilization": 1.0}.get(fld, 0.0)
        return node.values.get(fld, default)

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        stage, sep, fld = key.rpartition(".")
        if not sep or not stage:
            raise InvalidArgumentError(
                f"argument `{key}`: expected 'stage.parameter' (for example 'L1T.reduction_ratio') or 'year'"
            )
        return stage, fld

    def with_values(self, values: Mapping[str, float]) -> Pipeline:
        """A copy with values changed by ``"stage.parameter"`` key (and ``"year"``).

        Parameters
        ----------
        values : mapping of str to float
            ``{"stage.parameter": value}``: any keyword of :meth:`stage`/:meth:`detector` that is a number,
            ``link_energy_per_bit_j``, ``complexity_k0`` to ``complexity_k3``, and a classifier's ``skill``,
            ``sigma``, ``tpr`` or ``fpr``; ``"year"``.

        Returns
        -------
        Pipeline
            A new pipeline (this one is unchanged).

        Raises
        ------
        perfmodel.InvalidArgumentError
            An unknown stage or parameter.
        perfmodel.ModelError
            A classifier parameter on a stage without a classifier.

        Examples
        --------
        >>> import perfmodel as pm
        >>> p = pm.daq.preset("cms-run5")
        >>> q = p.with_values({"L1T.reduction_ratio": 40.0, "year": 2030})
        >>> q.get("L1T.reduction_ratio"), q.year, p.get("L1T.reduction_ratio")
        (40.0, 2030.0, 53.3)
        """
        compiled, self._compiled = self._compiled, None
        try:
            new = copy.deepcopy(self)
        finally:
            self._compiled = compiled
        for key, value in values.items():
            if key == "year":
                new.year = _num("year", "year", value)
                continue
            stage, fld = new._split(key)
            node = new._node(stage)
            v = _num(f"stage '{stage}'", fld, value)
            if fld == "link_energy_per_bit_j":
                node.link_energy_per_bit_j = v
            elif fld in ("skill", "sigma", "tpr", "fpr"):
                if node.classifier is None:
                    raise ModelError(f"stage '{stage}' has no classifier; cannot set `{fld}`")
                if isinstance(node.classifier, Empirical) and fld == "skill":
                    node.classifier = dataclasses.replace(node.classifier, shift=v)
                else:
                    node.classifier = dataclasses.replace(node.classifier, **{fld: v})  # type: ignore[arg-type]
            elif fld.startswith("complexity_k") and fld[-1] in "0123":
                k = list(node.complexity) + [0.0] * (4 - len(node.complexity))
                k[int(fld[-1])] = v
                node.complexity = tuple(k)
            elif fld in _NODE_FIELDS:
                node.values[fld] = v
            else:
                raise InvalidArgumentError(f"argument `{key}`: unknown parameter '{fld}' of stage '{stage}'")
        return new

    # -- engine -----------------------------------------------------------------------------------------
    def compile(self) -> Any:
        """Validates the pipeline in the engine (cycle, single storage root, value domains)."""
        if self._compiled is not None:
            return self._compiled
        names = list(self._nodes)
        index = {n: i for i, n in enumerate(names)}
        nodes: list[Any] = []
        links: list[Any] = []
        tables: list[Any] = []
        for node in self._nodes.values():
            values = dict(node.values)
            if len(node.complexity) > 4:
                raise InvalidArgumentError(
                    f"stage '{node.name}': complexity takes at most 4 polynomial coefficients (k0..k3)"
                )
            for i, k in enumerate(node.complexity):
                values[f"complexity_k{i}"] = _num(f"stage '{node.name}'", "complexity", k)
            kind, table = "none", None
            if node.classifier is not None:
                kind, extra = node.classifier._spec()
                values.update(extra)
                if isinstance(node.classifier, Empirical):
                    table = len(tables)
                    tables.append(
                        (
                            list(node.classifier.x),
                            list(node.classifier.cdf_neg),
                            list(node.classifier.cdf_pos),
                        )
                    )
            nodes.append((node.name, node.kind, kind, table, list(values.items())))
            if node.to is not None:
                if node.to not in index:
                    raise ModelError(
                        f"stage '{node.name}' sends its data to '{node.to}', which is not defined"
                    )
                links.append((index[node.name], index[node.to], node.link_energy_per_bit_j))
        rf = float("nan") if self.relevant_fraction is None else float(self.relevant_fraction)
        self._compiled = _core.daq_pipeline(nodes, links, tables, self.year, rf, self.integer_counts)
        return self._compiled

    def evaluate(self, mc_seed: int | None = None, mc_samples: int = 50_000) -> Evaluation:
        """Metrics of the pipeline, evaluated by the engine.

        By default the evaluation is deterministic (each classifier's threshold solved for its reduction
        ratio); ``mc_seed`` switches on the seeded Monte Carlo classifiers (``mc_samples`` scores per class,
        as SystemFlow's 50 000).

        Parameters
        ----------
        mc_seed : int, optional
            Seed of the Monte Carlo classifiers, in [0, 2^64) (None: deterministic).
        mc_samples : int
            Scores drawn per class, 2 to 10,000,000 (default 50,000).

        Returns
        -------
        Evaluation
            ``metrics`` (``power_w`` (W, at the pipeline's technology year), ``compute_power_w`` and
            ``link_power_w`` (W), ``power_unscaled_w`` (W at the reference year 2022's technology),
            ``scale_factor`` (the CMOS scaling ``S(year)``), ``precision``, ``recall``, ``f1`` and
            ``accuracy`` (fractions), ``tp_per_s``, ``fp_per_s``, ``tn_per_s``, ``fn_per_s`` (events per
            second), ``output_rate_hz`` (events/s reaching storage), ``relevant_per_s`` (F1 x output rate),
            ``relevant_per_kj`` (relevant samples per kJ), ``energy_per_relevant_j`` (J per relevant sample),
            ``units`` (farm units) and ``cost`` (sum of units x unit cost, in the unit costs' currency: USD in
            the presets)) and the per-stage table ``stages``.

        Raises
        ------
        perfmodel.ModelError
            An invalid pipeline (a cycle, no single storage root, a link to an undefined stage).
        perfmodel.InvalidArgumentError
            A value outside its domain.

        Examples
        --------
        >>> import perfmodel as pm
        >>> e = pm.daq.preset("cms-run5", gpu_hlt=True, smart_pixels=True).evaluate()
        >>> f"{e.power_w / 1e6:.2f} MW", f"F1 {e.f1:.3f}", f"cost {e.cost / 1e9:.2f} G"
        ('20.46 MW', 'F1 0.386', 'cost 1.75 G')
        """
        metrics, cols = _core.daq_evaluate(self.compile(), *_mc_args(mc_seed, mc_samples))
        shown: dict[str, float | None] = {
            k: (None if k in _RATIOS and math.isinf(v) else v) for k, v in metrics.items()
        }
        compiled = self.compile()
        stages = pl.DataFrame({"stage": compiled.names, "kind": compiled.kinds, **dict(cols)}).with_columns(
            power_w=pl.col("compute_power_w") + pl.col("link_power_w")
        )
        return Evaluation(shown, stages)

    def sweep(self, columns: Mapping[str, Any], per_stage: bool = False, mc_seed: int | None = None, mc_samples: int = 50_000,
              *, client: Any = None) -> pl.DataFrame:  # fmt: skip
        """Vectorized what-if: the pipeline evaluated for every element of broadcast columns of values.

        Parameters
        ----------
        columns : mapping of str to float or array_like
            ``{"stage.parameter" | "year" | "relevant_fraction": scalar or array}``, broadcast together (e.g.
            ``"L1T.skill"``, ``"HLT.reduction_ratio"``, ``"L1T.complexity_k1"``).
        per_stage : bool
            Add a ``power_w:<stage>`` column (W) per stage (default False).
        mc_seed : int, optional
            Seed of the Monte Carlo classifiers (None: deterministic); each row is seeded by its number.
        mc_samples : int
            Scores drawn per class (default 50,000).
        client : dask.distributed.Client, optional
            Sweeps row ranges as tasks on its workers; the frame (Monte Carlo draws included) is the local
            one.

        Returns
        -------
        polars.DataFrame
            One row per element: the inputs, then every metric of :data:`METRICS` (``power_w`` (W, at the
            pipeline's technology year), ``compute_power_w`` and ``link_power_w`` (W), ``power_unscaled_w`` (W
            at the reference year 2022's technology), ``scale_factor`` (the CMOS scaling ``S(year)``),
            ``precision``, ``recall``, ``f1`` and ``accuracy`` (fractions), ``tp_per_s``, ``fp_per_s``,
            ``tn_per_s``, ``fn_per_s`` (events per second), ``output_rate_hz`` (events/s reaching storage),
            ``relevant_per_s`` (F1 x output rate), ``relevant_per_kj`` (relevant samples per kJ),
            ``energy_per_relevant_j`` (J per relevant sample), ``units`` (farm units) and ``cost`` (sum of
            units x unit cost, in the unit costs' currency: USD in the presets);
        the undefined ratios null), plus ``power_w:<stage>`` columns with ``per_stage``.

        Raises
        ------
        perfmodel.InvalidArgumentError
            An unknown stage or parameter (naming the closest stage), or arrays that do not broadcast.

        Examples
        --------
        >>> import numpy as np, perfmodel as pm
        >>> df = pm.daq.preset("cms-run5").sweep({"L1T.skill": np.linspace(1, 4, 7)})
        >>> df.height, df["f1"].round(3).to_list()[:3]
        (7, [0.132, 0.264, 0.434])
        >>> pm.daq.preset("cms-run5").sweep({"L1T.skill": [2.0, 3.0]}, per_stage=True).columns[-2:]
        ['power_w:HLT', 'power_w:Disk']
        """
        compiled = self.compile()
        index = {n: i for i, n in enumerate(compiled.names)}
        _, cols = (
            as_columns(**{k.replace(".", "\x00"): v for k, v in columns.items()}) if columns else ((), {})
        )
        targets = []
        arrays = []
        for raw, arr in cols.items():
            key = raw.replace("\x00", ".")
            if key in ("year", "relevant_fraction"):
                targets.append((-1, key))
            else:
                stage, fld = self._split(key)
                self._node(stage)
                targets.append((index[stage], fld))
            arrays.append(arr)
        mc_seed, mc_samples = _mc_args(mc_seed, mc_samples)
        per_stage = check.flag("per_stage", per_stage)
        n = arrays[0].size if arrays else 0
        if client is None or n == 0:
            rows, flat, stage_flat = _core.daq_sweep(
                compiled, targets, arrays, per_stage, mc_seed, mc_samples
            )
        else:
            from .._distributed import chunk_count, index_ranges, map_chunks

            ranges = index_ranges(n, chunk_count(client, n, min_items=1024))
            args = [
                (compiled, targets, [a[lo:hi] for a in arrays], per_stage, mc_seed, mc_samples, lo)
                for lo, hi in ranges
            ]
            parts = map_chunks(client, _core.daq_sweep, args, what="daq sweep")
            rows = sum(part[0] for part in parts)
            flat = np.concatenate([part[1] for part in parts])
            stage_flat = np.concatenate([part[2] for part in parts])
        data: dict[str, Any] = {raw.replace("\x00", "."): arr for raw, arr in cols.items()}
        m = flat.reshape(rows, len(METRICS))
        for j, name in enumerate(METRICS):
            col = np.ascontiguousarray(m[:, j])
            data[name] = (
                pl.Series(name, np.where(np.isinf(col), np.nan, col), nan_to_null=True)
                if name in _RATIOS
                else col
            )
        if per_stage:
            s = stage_flat.reshape(rows, len(compiled.names))
            for j, name in enumerate(compiled.names):
                data[f"power_w:{name}"] = np.ascontiguousarray(s[:, j])
        return pl.DataFrame(data)

    # -- TOML -------------------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, source: str | Path, *, text: str | None = None) -> Pipeline:
        """Loads a pipeline from a TOML file (format: ``perfmodel/daq/presets/cms-run5.toml``)."""
        where = str(source)
        try:
            doc = tomllib.loads(text) if text is not None else tomllib.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
            raise InvalidArgumentError(f"{where}: cannot read pipeline TOML: {exc}") from None
        except RecursionError:
            raise InvalidArgumentError(f"{where}: cannot read pipeline TOML: nested too deeply") from None
        return _from_doc(doc, where)


_CLASSIFIERS = {"gaussian": Gaussian, "rates": Rates}


def _classifier(where: str, spec: Any) -> Classifier:
    if spec is None:
        return None
    if not isinstance(spec, dict) or "kind" not in spec:
        raise InvalidArgumentError(
            f"{where}: classifier must be a table with `kind` ('gaussian', 'rates' or 'empirical')"
        )
    spec = dict(spec)
    kind = spec.pop("kind")
    spec.pop("note", None)
    try:
        if kind == "empirical":
            if "efficiency_curve" in spec:
                c = spec.pop("efficiency_curve")
                return Empirical.from_efficiency_curve(
                    c["threshold"], c["signal_efficiency"], c["background_efficiency"], **spec
                )
            return Empirical(
                tuple(spec.pop("x")), tuple(spec.pop("cdf_neg")), tuple(spec.pop("cdf_pos")), **spec
            )
        return _CLASSIFIERS[kind](**spec)  # type: ignore[no-any-return]
    except (KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{where}: bad classifier {kind!r}: {exc}") from exc


_DETECTOR_KEYS = {
    "name",
    "to",
    "sample_rate_hz",
    "data_bytes",
    "compression",
    "energy_per_op_j",
    "complexity",
    "link_energy_per_bit_j",
    "units",
    "unit_cost",
    "category",
    "note",
}
_STAGE_KEYS = {
    "name",
    "to",
    "data_bytes",
    "reduction_ratio",
    "classifier",
    "energy_per_op_j",
    "complexity",
    "complexity_scale",
    "compression",
    "link_energy_per_bit_j",
    "units",
    "unit_cost",
    "unit_time_s",
    "utilization",
    "note",
}
_STORAGE_KEYS = {"name", "energy_per_op_j", "complexity", "units", "unit_cost", "note"}


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(table) - allowed)
    if unknown:
        import difflib

        hints = [
            f"`{k}`"
            + (
                f" (did you mean `{m[0]}`?)"
                if (m := difflib.get_close_matches(k, sorted(allowed), n=1))
                else ""
            )
            for k in unknown
        ]
        raise InvalidArgumentError(f"{where}: unknown key(s) {', '.join(hints)}")
    return {k: v for k, v in table.items() if k not in ("note", "category")}


def _from_doc(doc: dict[str, Any], where: str) -> Pipeline:
    head = doc.get("pipeline", {})
    p = Pipeline(
        head.get("name", Path(where).stem),
        year=head.get("year", 2022),
        relevant_fraction=head.get("relevant_fraction"),
        integer_counts=head.get("integer_counts", True),
    )
    p.meta = {k: v for k, v in doc.items() if k not in ("detector", "stage", "storage", "defaults")}
    defaults = doc.get("defaults", {})
    for i, d in enumerate(doc.get("detector", [])):
        d = _check_keys(f"{where}: detector[{i}]", {**defaults.get("detector", {}), **d}, _DETECTOR_KEYS)
        p.detector(**d)
    for i, s in enumerate(doc.get("stage", [])):
        s = _check_keys(
            f"{where}: stage[{i}] ({s.get('name', '?')})", {**defaults.get("stage", {}), **s}, _STAGE_KEYS
        )
        s["classifier"] = _classifier(f"{where}: stage '{s.get('name')}'", s.get("classifier"))
        p.stage(**s)
    storage = doc.get("storage")
    if storage is None:
        raise ModelError(
            f"{where}: pipeline has no [storage] table; a pipeline needs exactly one storage root"
        )
    p.storage(**_check_keys(f"{where}: storage", storage, _STORAGE_KEYS))
    return p
