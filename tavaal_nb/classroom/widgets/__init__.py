"""Interactive views of TA-VAAL for Jupyter: each shows a plotly figure under its controls.

=========================  ====================================================================
:class:`LearningCurves`    accuracy against labeled images, mean +- std over trials (Figs. 2-5)
:class:`ClassEntropyView`  class-count entropy of each query's selection (Fig. 6)
:class:`DiscriminatorHistogram`  D(mu, r) on the candidates, per cycle, with the threshold (Fig. 7)
:class:`RankingLossExplorer`     eqs. 1 and 4 and their gradients for one pair of predictions
:class:`ImbalanceBuilder`  class counts of an imbalanced pool and their entropy (Table 1)
:class:`LatentExplorer`    the VAE's latent means in 2-D (PCA), by pool or by rank variable r
:class:`SelectionGallery`  thumbnails of the images a query selected, with their classes
:class:`LiveDashboard`     a loop Callback that draws a run while it happens
:class:`PairedComparisonView`  method a minus method b trial by trial, with interval and sign test
:class:`RankSlider`        decoded images as the rank variable r moves (eq. 6's decoder)
:class:`ClassDiscriminatorHistogram`  D on one query's candidates by true class, eq. 9's threshold
:func:`ask`                attach a question (and a hint) to any view
=========================  ====================================================================

Every view has ``.figure`` (its plotly figure), ``.controls`` (an ipywidgets box),
``.widget`` (both), ``.redraw()`` and ``.export(path)`` (``.html``, or ``.png`` & co. through
kaleido), and displays itself when it is the last expression of a cell. Where plotly's
``FigureWidget`` cannot be drawn (Google Colab) a view redraws a static figure under its
controls instead; :func:`set_static` (or ``static=`` on a view, or ``TAVAAL_STATIC_WIDGETS=1``)
forces either way.
"""

from tavaal_nb.classroom.widgets._base import ImageExportError, set_static, static_reason
from tavaal_nb.classroom.widgets.class_histogram import ClassDiscriminatorHistogram
from tavaal_nb.classroom.widgets.curves import LearningCurves
from tavaal_nb.classroom.widgets.dashboard import LiveDashboard
from tavaal_nb.classroom.widgets.discriminator import DiscriminatorHistogram
from tavaal_nb.classroom.widgets.entropy import ClassEntropyView
from tavaal_nb.classroom.widgets.gallery import SelectionGallery
from tavaal_nb.classroom.widgets.imbalance import ImbalanceBuilder
from tavaal_nb.classroom.widgets.latent import LatentExplorer
from tavaal_nb.classroom.widgets.paired import PairedComparisonView
from tavaal_nb.classroom.widgets.question import Question, ask
from tavaal_nb.classroom.widgets.rank_slider import RankSlider
from tavaal_nb.classroom.widgets.ranking import RankingLossExplorer

__all__ = [
    "ClassDiscriminatorHistogram",
    "ClassEntropyView",
    "DiscriminatorHistogram",
    "ImageExportError",
    "ImbalanceBuilder",
    "LatentExplorer",
    "LearningCurves",
    "LiveDashboard",
    "PairedComparisonView",
    "Question",
    "RankSlider",
    "RankingLossExplorer",
    "SelectionGallery",
    "ask",
    "set_static",
    "static_reason",
]
