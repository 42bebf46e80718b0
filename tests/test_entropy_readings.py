"""Fig. 6's two readings: entropy of each selection and of the labeled set (tavaal_nb.metrics, tavaal_nb.analysis.plots)."""

import math

import pytest

from tavaal_nb.analysis.plots import entropy_readings_figure
from tavaal_nb.analysis.stats import entropy_by_size
from tavaal_nb.results import Results


def _record(size, labeled_counts, selected_counts):
    selected = list(range(sum(selected_counts))) if selected_counts else []
    return {"labeled_size": size, "labeled_class_counts": labeled_counts, "selected_indices": selected,
            "selected_class_counts": selected_counts}


def _results():
    # one trial of one method, two classes: 2 + 2 labeled, then a query of 4 that picks 3 + 1
    run = {"method": "tavaal", "trial": 0, "cycles": [
        _record(4, [2, 2], [3, 1]),
        _record(8, [5, 3], None),  # last cycle: no query
    ]}
    return Results({"config": {}, "dataset": {"class_counts": [10, 30]}, "runs": [run]})


def test_selected_reading_is_the_entropy_of_the_query_keyed_after_it():
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.562335
    assert entropy_by_size(_results(), "tavaal", "selected") == {8: [pytest.approx(h, abs=1e-12)]}


def test_labeled_reading_follows_the_labeled_set_every_cycle():
    values = entropy_by_size(_results(), "tavaal", "labeled")
    assert list(values) == [4, 8]
    assert values[4] == [pytest.approx(math.log(2))]
    assert values[8] == [pytest.approx(-(5 / 8 * math.log(5 / 8) + 3 / 8 * math.log(3 / 8)))]  # 0.661563


def test_bad_reading_or_method_and_the_figure():
    with pytest.raises(ValueError, match="reading must be one of"):
        entropy_by_size(_results(), "tavaal", "pool")
    with pytest.raises(ValueError, match="no runs of method 'vaal'"):
        entropy_by_size(_results(), "vaal")
    fig = entropy_readings_figure(_results(), "labeled")
    assert list(fig.data[0].x) == [4, 8] and fig.data[0].y[0] == pytest.approx(math.log(2))
