"""The teaching widgets: RankSlider, ClassDiscriminatorHistogram and questions attached to views."""

import pytest
import torch

from tavaal_nb.classroom.widgets import ClassDiscriminatorHistogram, ImbalanceBuilder, RankSlider, ask
from tavaal_nb.strategies.base import Selection


@pytest.fixture(params=[False, True], ids=["figurewidget", "static"])
def static(request):
    return request.param


def _sweep():
    # 3 values of r, 2 images of 1x2x2 pixels: row k is filled with 10 * k grey levels
    return torch.stack([torch.full((2, 1, 2, 2), 10 * k, dtype=torch.uint8) for k in range(3)])


def test_rank_slider_shows_the_chosen_row_and_its_change(static):
    view = RankSlider(_sweep(), [-1.0, 0.0, 2.0], question="Does r change the digit?", static=static)
    assert view.value == -1.0 and view.change == 0.0
    view.r.value = 2
    assert view.value == 2.0 and view.change == pytest.approx(20.0)
    assert "20.00 grey levels" in view._readout.value
    assert view.redraws >= 2 and "Question." in view.controls.children[0].value


def test_rank_slider_rejects_bad_input():
    with pytest.raises(ValueError, match="one r value per row"):
        RankSlider(_sweep(), [0.0, 1.0])
    with pytest.raises(ValueError, match="ascending"):
        RankSlider(_sweep(), [2.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="uint8"):
        RankSlider(_sweep().float(), [0.0, 1.0, 2.0])


def _selection():
    # 6 candidates (pool indices 10..15) with classes 0,0,1,2,2,2 and D = .1,.5,.2,.9,.3,.8; budget 3
    scores = torch.tensor([0.1, 0.5, 0.2, 0.9, 0.3, 0.8])
    candidates = torch.arange(10, 16)
    return Selection(indices=candidates[[0, 2, 4]], scores=scores, candidates=candidates,
                     strategy_data={"discriminator_scores": scores})


def test_class_histogram_lists_the_classes_left_of_the_threshold(static):
    labels = torch.zeros(16, dtype=torch.long)
    labels[10:16] = torch.tensor([0, 0, 1, 2, 2, 2])
    view = ClassDiscriminatorHistogram({"tavaal": _selection()}, labels, class_names=["a", "b", "c"], bins=4,
                                       static=static)
    assert view.k.value == 3 and view.threshold == pytest.approx(0.3)
    assert view.left_counts == {"a": 1, "b": 1, "c": 1}
    assert sum(sum(trace.y) for trace in view.figure.data) == 6
    by_class = {trace.name: sum(trace.y) for trace in view.figure.data}
    assert by_class == {"a": 2, "b": 1, "c": 3}
    view.k.value = 5  # D <= 0.8: adds the 0.5 (class a) and the 0.8 (class c)
    assert view.left_counts == {"a": 2, "c": 2, "b": 1}
    assert "a x2, c x2, b x1" in view._listing.value


def test_class_histogram_needs_discriminator_scores():
    plain = Selection(indices=torch.tensor([0]), scores=torch.zeros(2), candidates=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="no discriminator scores"):
        ClassDiscriminatorHistogram(plain, torch.zeros(2, dtype=torch.long))


def test_a_question_wraps_a_view_with_an_answer_box_and_a_hint():
    view = ImbalanceBuilder("entropy-1.65", static=True)
    asked = ask(view, "Which class is rarest?", hint="Look at the shortest bar.")
    assert asked.view is view and view.widget in asked.widget.children
    assert "Which class is rarest?" in asked.widget.children[0].value and asked.answer == ""
    button, hint = asked.widget.children[3], asked.widget.children[4]
    assert hint.value == ""
    button.click()
    assert "shortest bar" in hint.value
    with pytest.raises(ValueError, match="needs the text"):
        ask(view, "  ")
