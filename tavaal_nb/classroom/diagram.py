"""TA-VAAL's pipeline as a diagram (the paper's Fig. 1b, redrawn): one SVG, any piece highlighted.

The course shows the whole picture in notebook 00 and the same picture with the piece being taught
highlighted in notebooks 02 (the Ranker), 03 (the conditional VAE) and 04 (the discriminator and the
selection)::

    from tavaal_nb.classroom.diagram import pipeline_diagram
    pipeline_diagram("ranker")          # displays itself in Jupyter (an SVG)
    pipeline_diagram().svg              # the SVG text
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PIECES", "PipelineDiagram", "pipeline_diagram"]


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    width: int
    height: int
    title: str
    detail: str


PIECES: dict[str, _Box] = {
    "labeled": _Box(10, 30, 150, 56, "Labeled pool", "(X_L, Y_L)"),
    "unlabeled": _Box(10, 190, 150, 56, "Unlabeled pool", "X_U: a random subset"),
    "task": _Box(210, 20, 180, 56, "Task learner T", "ResNet-18; eq. 5"),
    "ranker": _Box(210, 110, 180, 56, "Ranker R", "predicted loss r; eq. 4"),
    "vae": _Box(450, 110, 190, 56, "Conditional VAE", "q(z|x), p(x|z, r); eqs. 6-7"),
    "discriminator": _Box(690, 110, 180, 56, "Discriminator D", "D(r, mu) = P(labeled); eq. 8"),
    "selection": _Box(690, 220, 180, 56, "Selection", "the b lowest D; eq. 9"),
    "oracle": _Box(450, 220, 190, 56, "Oracle", "labels the b images"),
}
"""The boxes of the diagram by name; any of these names can be highlighted."""

# each arrow: its points (leaving a box's side, entering another's) and whether it ends in an arrowhead
_ARROWS: tuple[tuple[tuple[tuple[int, int], ...], bool], ...] = (
    (((160, 53), (210, 48)), True),                                 # labeled -> task learner
    (((300, 76), (300, 110)), True),                                # task learner's features -> Ranker
    (((390, 138), (450, 138)), True),                               # r -> VAE
    (((160, 80), (195, 80), (195, 200)), False),                    # labeled images join ...
    (((160, 200), (545, 200), (545, 166)), True),                   # ... the unlabeled ones -> VAE
    (((640, 138), (690, 138)), True),                               # mu -> D
    (((390, 120), (415, 120), (415, 96), (780, 96), (780, 110)), True),  # r -> D (over the VAE)
    (((780, 166), (780, 220)), True),                               # D's scores -> selection
    (((690, 248), (640, 248)), True),                               # selection -> oracle
    (((545, 276), (545, 292), (4, 292), (4, 58), (10, 58)), True),  # new labels -> labeled pool
)
_ARROW_LABELS = ((420, 150, "r"), (665, 132, "mu"), (600, 91, "r"), (370, 195, "images of both pools"),
                 (280, 287, "b new labels"))

WIDTH, HEIGHT = 880, 300
PLAIN = {"fill": "#f4f6fa", "stroke": "#8a94a6", "stroke-width": "1.5"}
HIGHLIGHT = {"fill": "#ffe08a", "stroke": "#c77700", "stroke-width": "3.5"}


@dataclass(frozen=True)
class PipelineDiagram:
    """The diagram as SVG text; displays itself in Jupyter (``_repr_svg_``)."""

    svg: str
    highlighted: tuple[str, ...]

    def _repr_svg_(self) -> str:
        return self.svg


def _attributes(values: dict[str, str]) -> str:
    return " ".join(f'{key}="{value}"' for key, value in values.items())


def pipeline_diagram(highlight: str | Sequence[str] | None = None, title: str | None = None) -> PipelineDiagram:
    """TA-VAAL's pipeline: task learner and Ranker, conditional VAE, discriminator, selection, oracle.

    ``highlight`` names one piece or several (keys of :data:`PIECES`: ``labeled``, ``unlabeled``,
    ``task``, ``ranker``, ``vae``, ``discriminator``, ``selection``, ``oracle``); those boxes are drawn
    in amber with a thick border and carry ``class="piece highlighted"``. ``title`` defaults to a
    one-line reading of the picture.
    """
    wanted = (highlight,) if isinstance(highlight, str) else tuple(highlight or ())
    unknown = [name for name in wanted if name not in PIECES]
    if unknown:
        raise ValueError(f"cannot highlight {unknown}: the pieces are {', '.join(PIECES)}")
    if title is None:
        title = ("TA-VAAL: the Ranker's predicted loss r conditions the VAE and the discriminator; "
                 "the b candidates with the lowest D are labeled")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 30}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + 30}" font-family="sans-serif" role="img">',
             f"<title>{escape(title)}</title>",
             '<defs><marker id="tavaal-arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
             '<path d="M0,0 L10,4 L0,8 z" fill="#4a5568"/></marker></defs>']
    for points, head in _ARROWS:
        path = " ".join(f"{x},{y}" for x, y in points)
        marker = ' marker-end="url(#tavaal-arrow)"' if head else ""
        parts.append(f'<polyline points="{path}" fill="none" stroke="#4a5568" stroke-width="1.5"{marker}/>')
    for x, y, text in _ARROW_LABELS:
        parts.append(f'<text x="{x}" y="{y}" font-size="12" fill="#4a5568" text-anchor="middle">{escape(text)}</text>')
    for name, box in PIECES.items():
        style = HIGHLIGHT if name in wanted else PLAIN
        css = "piece highlighted" if name in wanted else "piece"
        parts.append(f'<g id="piece-{name}" class="{css}">'
                     f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" rx="8" '
                     f"{_attributes(style)}/>"
                     f'<text x="{box.x + box.width // 2}" y="{box.y + 24}" font-size="15" font-weight="bold" '
                     f'text-anchor="middle">{escape(box.title)}</text>'
                     f'<text x="{box.x + box.width // 2}" y="{box.y + 44}" font-size="12" '
                     f'text-anchor="middle">{escape(box.detail)}</text></g>')
    parts.append(f'<text x="{WIDTH // 2}" y="{HEIGHT + 20}" font-size="13" text-anchor="middle" '
                 f'fill="#2d3748">{escape(title)}</text>')
    parts.append("</svg>")
    return PipelineDiagram("".join(parts), wanted)
