"""The "matrices" plot kind: plain data that survives JSON and draws one annotated map per panel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tamrin.eval import figures as F
from tamrin.eval.matrix_figures import matrices_info


def test_matrices_round_trip_and_draw() -> None:
    x = np.arange(12.0).reshape(3, 4)
    info = matrices_info([(x, "x", None), (x - x.mean(0), "cols", "columns"), (x.T, "t", "rows")])
    data = json.loads(json.dumps(F.to_data(info)))
    assert data["panels"][1] == {
        "values": (x - x.mean(0)).tolist(),
        "title": "cols",
        "arrows": "columns",
    }
    fig = F.draw("matrices", data)
    first, second, third = fig.axes
    assert [t.get_text() for t in first.texts[:2]] == ["0.00", "1.00"]  # every value written
    assert len(second.texts) == 12 + 4  # 12 values + one arrow per column
    assert len(third.texts) == 12 + 4  # x.T is 4 x 3: one arrow per row
    assert third.get_title() == "t"


def test_matrices_reject_bad_panels() -> None:
    with pytest.raises(ValueError, match="arrows must be one of"):
        matrices_info([([[1.0]], "a", "diagonal")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="2-d matrix"):
        matrices_info([([1.0, 2.0], "a", None)])
