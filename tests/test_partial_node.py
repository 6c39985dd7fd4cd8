"""Issue 18: a communicator that partly fills its last node (12 GPUs of two DGX B200: 8 + 4; 96 of two GB200 NVL72
racks: 72 + 24) is priced with the ranks per node as they are. The last node's ranks hold the same share of the
data as a full node's, split fewer ways, and only its own NICs carry it: a ring crosses the network on as many
rails as the least-filled node has ranks, a hierarchical network phase moves that node's larger shards, and an
all-to-all's ranks there have more peers on other nodes. The slopes below (seconds per byte, so launch and
latency cancel) are derived by hand from the hwdb figures."""

from __future__ import annotations

import perfmodel as pm
import pytest

#: ConnectX-7 NDR 400: 400 Gb/s x bandwidth_fraction 0.97 = 48.5 GB/s per NIC (hwdb nics/cx7-ndr400.toml).
NIC = 400e9 / 8 * 0.97
#: NVLink 5 switch, one B200's ring bandwidth: 18 links x 50 GB/s x 0.758 (hwdb fabrics/nvlink5-nvswitch.toml).
NVL = 18 * 50e9 * 0.758
N1, N2 = 2.0**33, 2.0**34


def _slope(op: str, nranks: int, algorithm: str = "auto", system: str = "dgx-b200") -> float:
    t = pm.collectives.predict(system, op, [N1, N2], nranks, algorithm=algorithm)["time_s"]
    return float((t[1] - t[0]) / (N2 - N1))


def test_hwdb_figures_the_derivation_uses() -> None:
    nic = pm.hwdb.get("cx7-ndr400", "nic")
    assert nic["line_rate_gbit_per_s"] * 1e9 / 8 * nic["efficiency.bandwidth_fraction"] == pytest.approx(NIC)
    f = pm.hwdb.get("nvlink5-nvswitch", "fabric")
    assert f["link_bandwidth_per_direction_gbps"] * 1e9 * f["links_per_device_count"] * f[
        "efficiency.bandwidth_fraction"
    ] == pytest.approx(NVL)
    s = pm.hwdb.get("dgx-b200")
    assert (s["devices_per_node_count"], s["nics_per_node_count"]) == (8, 8)


def test_ring_all_gather_crosses_on_the_last_nodes_four_rails() -> None:
    # p ranks, (p - 1)/p of the output per rank, at the ring's bottleneck: the network crossing with one channel
    # per rail of the least-filled node (4 of 12 = 8 + 4; 8 of 16 = 8 + 8), slower than NVLink's 682 GB/s.
    assert _slope("all_gather", 12, "ring") == pytest.approx((11 / 12) / (4 * NIC), rel=1e-9)
    assert _slope("all_gather", 16, "ring") == pytest.approx((15 / 16) / (8 * NIC), rel=1e-9)


def test_hierarchical_all_reduce_moves_the_last_nodes_larger_shards() -> None:
    # In-node reduce-scatter + all-gather over the full node's 8 ranks at NVLink's ring bandwidth, then across the
    # 2 nodes a ring all-reduce (2 (k-1)/k = 1 times the shard) on each rank's own rail: a full node's rank holds
    # 1/8 of the data, the last node's 1/4: that one bounds the phase.
    inner = 2 * (7 / 8) / NVL
    assert _slope("all_reduce", 12, "hierarchical") == pytest.approx(inner + (1 / 4) / NIC, rel=1e-9)
    assert _slope("all_reduce", 16, "hierarchical") == pytest.approx(inner + (1 / 8) / NIC, rel=1e-9)


def test_all_to_all_ranks_of_the_last_node_have_more_remote_peers() -> None:
    # n bytes per rank, n/p to each peer: a full node's rank sends 4/12 of n across, the last node's 8/12, each on
    # its own NIC (a node's NICs are one per GPU).
    assert _slope("all_to_all", 12, "direct") == pytest.approx((8 / 12) / NIC, rel=1e-9)
    assert _slope("all_to_all", 16, "direct") == pytest.approx((8 / 16) / NIC, rel=1e-9)


def test_nvl72_racks_96_gpus_priced_by_the_second_racks_24_ranks() -> None:
    # 72 + 24 (gb200-nvl72: 72 GPUs and 72 CX-7 NICs per rack). Hierarchical all-reduce: the in-rack phase over 72
    # ranks, then the second rack's ranks each move 1/24 of the data on their own rail (1/72 on 144 GPUs), so a
    # large all-reduce takes longer on 96 GPUs than on 144.
    inner = 2 * (71 / 72) / NVL
    hier = _slope("all_reduce", 96, "hierarchical", "gb200-nvl72")
    assert hier == pytest.approx(inner + (1 / 24) / NIC, rel=1e-9)
    assert _slope("all_reduce", 144, "hierarchical", "gb200-nvl72") == pytest.approx(
        inner + (1 / 72) / NIC, rel=1e-9
    )
    t = pm.collectives.predict("gb200-nvl72", "all_reduce", 2**32, [96, 144])["time_s"]
    assert t[0] > t[1]
    # A ring still crosses on 24 rails, 24 x 48.5 = 1,164 GB/s, above NVLink's 682 GB/s ring bandwidth: NVLink
    # bounds it.
    assert _slope("all_gather", 96, "ring", "gb200-nvl72") == pytest.approx((95 / 96) / NVL, rel=1e-9)
