"""The pipeline diagram (tavaal_nb.classroom.diagram): valid SVG, the right box highlighted."""

import xml.etree.ElementTree as ET

import pytest

from tavaal_nb.classroom.diagram import HIGHLIGHT, PIECES, PLAIN, pipeline_diagram

SVG = "{http://www.w3.org/2000/svg}"


def _boxes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {group.get("id").removeprefix("piece-"): group for group in root.iter(f"{SVG}g")}


def test_every_piece_is_drawn_once_with_its_title():
    boxes = _boxes(pipeline_diagram().svg)
    assert set(boxes) == set(PIECES)
    for name, group in boxes.items():
        texts = [t.text for t in group.iter(f"{SVG}text")]
        assert texts[0] == PIECES[name].title
        assert group.find(f"{SVG}rect").get("fill") == PLAIN["fill"]


@pytest.mark.parametrize("piece", ["ranker", "vae", "discriminator", "selection"])
def test_the_highlighted_box_and_only_it_is_amber(piece):
    diagram = pipeline_diagram(piece)
    assert diagram.highlighted == (piece,)
    for name, group in _boxes(diagram.svg).items():
        rect = group.find(f"{SVG}rect")
        assert (rect.get("fill") == HIGHLIGHT["fill"]) == (name == piece)
        assert ("highlighted" in group.get("class")) == (name == piece)
    assert diagram._repr_svg_() == diagram.svg


def test_several_pieces_and_bad_names():
    boxes = _boxes(pipeline_diagram(["discriminator", "selection"]).svg)
    assert sorted(n for n, g in boxes.items() if "highlighted" in g.get("class")) == ["discriminator", "selection"]
    with pytest.raises(ValueError, match="cannot highlight \\['decoder'\\].*ranker"):
        pipeline_diagram("decoder")
