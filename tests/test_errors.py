"""The error hierarchy, and panics surfacing as PerfModelError."""

import perfmodel as pm
import pytest


def test_hierarchy():
    assert issubclass(pm.HwdbError, pm.PerfModelError) and issubclass(pm.HwdbError, KeyError)
    for cls in (pm.InvalidArgumentError, pm.UnsupportedError, pm.ModelError, pm.LogParseError):
        assert issubclass(cls, pm.PerfModelError) and issubclass(cls, ValueError)


def test_hwdb_error_message_is_not_repr_quoted():
    e = pm.HwdbError("x: key `y`")
    assert str(e) == "x: key `y`"


def test_engine_panic_is_a_perfmodel_error():
    with pytest.raises(pm.PerfModelError, match="internal error"):
        pm._core._debug_panic()
