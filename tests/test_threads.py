"""The engine's threads: `pm.set_num_threads` / `pm.get_num_threads`, a forked child that calls a parallel
function after its parent did finishes, and Ctrl-C stops a long engine call (each run in a subprocess with a
timeout, so that a hang fails the test instead of hanging the suite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import perfmodel as pm
import pytest

_FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp
    import numpy as np
    import perfmodel as pm

    SIZES = np.arange(1, 400_001)  # large enough for the engine to split the work over its threads

    def work(threads):
        if threads:
            pm.set_num_threads(threads)
        t = pm.roofline.gemm("h100-sxm5-80gb", SIZES, 4096, 4096)["time_s"].to_numpy()
        return float(t.sum()), pm.get_num_threads()

    if __name__ == "__main__":
        parent = work(0)  # the engine's pool has run in the parent
        with mp.get_context("fork").Pool(2) as pool:
            children = pool.map(work, [0, 1])
        assert children[0][0] == parent[0] and children[1][0] == parent[0], (parent, children)
        assert children[1][1] == 1, children
        print("OK", parent, children)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_forked_child_runs_the_engine_after_the_parent_did(tmp_path):
    script = tmp_path / "fork_after_parallel.py"
    script.write_text(_FORK_SCRIPT)
    env = {**os.environ, "RAYON_NUM_THREADS": "2"}
    try:
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"a forked child hung in the engine after its parent used it: {exc}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("OK")


def test_set_num_threads_round_trips_and_keeps_results():
    sizes = list(range(1, 50_001))
    before = pm.get_num_threads()
    reference = pm.roofline.gemm("a100-sxm4-80gb", sizes, 1024, 1024)
    try:
        pm.set_num_threads(1)
        assert pm.get_num_threads() == 1
        assert pm.roofline.gemm("a100-sxm4-80gb", sizes, 1024, 1024).equals(reference)
        pm.set_num_threads(3)
        assert pm.get_num_threads() == 3
        assert pm.roofline.gemm("a100-sxm4-80gb", sizes, 1024, 1024).equals(reference)
    finally:
        pm.set_num_threads(before)
    assert pm.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4", 10**6])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(pm.InvalidArgumentError, match="`n`"):
        pm.set_num_threads(bad)


def test_rayon_num_threads_sets_the_default():
    code = "import perfmodel as pm; print(pm.get_num_threads())"
    env = {**os.environ, "RAYON_NUM_THREADS": "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    assert out.stdout.strip() == "3"


_SIGINT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import perfmodel as pm

    p = pm.daq.preset("cms-run5")
    print("started", flush=True)
    t0 = time.perf_counter()
    try:
        # About a minute of Monte Carlo draws in one engine call.
        p.sweep({"L1T.skill": np.linspace(1, 4, 6000)}, mc_seed=1, mc_samples=50_000)
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - t0:.2f} s", flush=True)
        sys.exit(3)
    print("finished", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_long_daq_sweep(tmp_path):
    script = tmp_path / "long_sweep.py"
    script.write_text(_SIGINT_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, (out, err[-2000:])
    assert out.startswith("interrupted")
    # The sweep checks for signals between parts of about 0.1 s of work.
    assert waited < 5.0, waited


_LONG_CALL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import perfmodel as pm

    # Each call runs for a minute or more in one engine call per simulation: 32,000-token prompts prefilled 16
    # tokens per iteration (2,000 iterations per request), or a plan search of ~150 M candidates.
    LONG = dict(prompt_tokens=32000, output_tokens=2, max_model_len=32768)
    SCHED = dict(max_num_seqs=2, max_num_batched_tokens=16)
    N = 400_000

    def run(what):
        if what == "simulate":
            pm.serve.simulate("llama3-8b", ("dgx-h100", 1), rate=1000.0, num_requests=N, **SCHED, **LONG)
        elif what == "disaggregated":
            pool = pm.serve.Pool("dgx-h100", **SCHED)
            pm.serve.disaggregated("llama3-8b", pool, pool, rate=1000.0, num_requests=N, **LONG)
        elif what == "max_rate":
            pm.serve.max_rate("llama3-8b", ("dgx-h100", 1), slo_ttft_s=1e9, num_requests=N, **SCHED, **LONG)
        elif what == "llm_search":
            pm.llm.search_full("gpt3-175b", ("dgx-a100", 1024), 12288, micro_batch=list(range(1, 33)),
                               cp=[1, 2, 4, 8], progress=False)

    print("started", flush=True)
    t0 = time.perf_counter()
    try:
        run(sys.argv[1])
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - t0:.2f} s", flush=True)
        sys.exit(3)
    print(f"finished after {time.perf_counter() - t0:.2f} s", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("what", ["simulate", "disaggregated", "max_rate", "llm_search"])
def test_ctrl_c_stops_a_long_simulation_or_search(tmp_path, what):
    """SIGINT one second into a call that would run for a minute: KeyboardInterrupt (exit 3) within a few
    seconds. A serving simulation checks for a stop before every iteration (the binding polls the signals
    every 50 ms while it runs); the plan search between chunks of candidates."""
    script = tmp_path / "long_call.py"
    script.write_text(_LONG_CALL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), what], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{what}: still running 30 s after SIGINT")
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, (out, err[-2000:])
    assert out.startswith("interrupted"), out
    # Measured about 0.2 s from the signal to the process's exit (interpreter shutdown included).
    assert waited < 3.0, waited
