"""Plotting is an optional extra (``pip install 'perfmodel[plot]'``): without altair and vl-convert, perfmodel
imports, every model runs, the plots modules' frame builders run, and asking for a chart says what to install.

The missing packages are simulated in a fresh interpreter by ``sys.modules[name] = None``, which is what Python
(and polars' optional-dependency probe) sees for a package that is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    for name in ("altair", "vl_convert"):
        sys.modules[name] = None

    import perfmodel as pm

    assert pm.roofline.gemm("h100-sxm5-80gb", 4096, 4096, 4096)["tflops"][0] > 100
    e = pm.llm.estimate("llama3-8b", ("dgx-h100", 1), tp=1, global_batch=8)
    assert e.step_time_s > 0 and 0 < e.mfu < 1
    assert pm.serve.decode("llama3-8b", "dgx-h100", batch=8, context_len=512).time_s > 0
    assert pm.collectives.predict("dgx-h100", "all_reduce", 2**20, 8)["busbw_gbps"][0] > 0
    assert pm.daq.lever_sweep("cms-run5").height == 16

    # the plots modules import, and their frame builders work
    from perfmodel.daq import plots as daq_plots
    from perfmodel.plots import collectives, power

    f = power.power_vs_batch("llama3.1-8b", "dgx-h100", [8, 64], context_len=512)
    assert f.height == 2
    assert collectives.model_curves("dgx-h100", "all_reduce", 8, sizes=[2**20]).height == 1
    assert daq_plots.pareto_front(pm.daq.lever_sweep("cms-run5")).height >= 1

    # a chart asks for the extra, as a PerfModelError and an ImportError
    from perfmodel.plots import roofline, save

    for call in (lambda: roofline.roofline_chart("h100-sxm5-80gb"), lambda: power.power_energy_chart(f),
                 lambda: daq_plots.power_pareto(pm.daq.lever_sweep("cms-run5"))):
        try:
            call()
        except pm.PerfModelError as err:
            assert isinstance(err, ImportError), type(err)
            assert "pip install 'perfmodel[plot]'" in str(err), str(err)
        else:
            raise AssertionError("a chart was built without altair")
    assert not any(m == "altair" or m.startswith("altair.") for m, v in sys.modules.items() if v is not None)
    print("ok")
    """
)


def test_perfmodel_works_without_the_plot_extra() -> None:
    import perfmodel

    env = dict(os.environ)
    # Run against the same perfmodel this suite imports (the source tree when PYTHONPATH points at it).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(perfmodel.__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    )
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
