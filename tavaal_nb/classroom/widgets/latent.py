"""The VAE's latent space at one query, projected to 2-D."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
import torch

from tavaal_nb.analysis.figure_data import pca_2d
from tavaal_nb.analysis.model_figures import latent_figure
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.strategies.base import Selection

__all__ = ["LatentExplorer"]


class LatentExplorer(View):
    """The latent means ``mu`` of the labeled images and of the candidates, projected on their
    first two principal components (exact SVD), coloured by pool (labeled / unlabeled /
    selected) or by TA-VAAL's rank variable ``r`` (the Ranker's predicted loss).

    Build it from a VAAL / TA-VAAL :class:`~tavaal_nb.strategies.base.Selection` (its extras hold
    ``mu_labeled``, ``mu_candidates`` and, for TA-VAAL, ``r_labeled``, ``r_candidates``; the
    :class:`LiveDashboard` keeps the latest one of each method), or from arrays; ``selected`` is
    a boolean mask over the candidates or their positions.

    Example::

        from tavaal_nb.classroom.widgets import LatentExplorer, LiveDashboard
        dashboard = LiveDashboard(); run_experiment(config, callbacks=[dashboard])
        trial, cycle, selection = dashboard.selections["tavaal"]
        view = LatentExplorer(selection)
        view.color_by.value = "r"
    """

    def __init__(self, selection: Selection | None = None, *, mu_labeled=None, mu_candidates=None, selected=None,
                 r_labeled=None, r_candidates=None, title: str | None = None, static: bool | None = None) -> None:
        super().__init__(static)
        if selection is not None:
            extras = selection.extras
            if "mu_candidates" not in extras:
                raise ValueError("this Selection has no latent means: only vaal and tavaal queries record them")
            mu_labeled, mu_candidates = extras["mu_labeled"], extras["mu_candidates"]
            r_labeled, r_candidates = extras.get("r_labeled"), extras.get("r_candidates")
            selected = torch.isin(selection.candidates.cpu(), selection.indices.cpu())
        if mu_labeled is None or mu_candidates is None:
            raise ValueError("give a Selection, or mu_labeled and mu_candidates")
        mu_candidates = torch.as_tensor(mu_candidates).detach().cpu()
        count = mu_candidates.shape[0]
        if selected is None:
            mask = torch.zeros(count, dtype=torch.bool)
        else:
            selected = torch.as_tensor(selected).reshape(-1).cpu()
            if selected.dtype == torch.bool:
                mask = selected
            else:
                mask = torch.zeros(count, dtype=torch.bool)
                mask[selected.long()] = True
        if mask.numel() != count:
            raise ValueError(f"selected has {mask.numel()} entries for {count} candidates")
        self.selected_mask = mask
        (self.xy_labeled, self.xy_candidates), self.explained = pca_2d(torch.as_tensor(mu_labeled).detach().cpu(),
                                                                       mu_candidates)
        self.r_labeled = None if r_labeled is None else torch.as_tensor(r_labeled).detach().cpu().reshape(-1)
        self.r_candidates = None if r_candidates is None else torch.as_tensor(r_candidates).detach().cpu().reshape(-1)
        self.title = title or "VAE latent means (first two principal components)"
        has_r = self.r_labeled is not None and self.r_candidates is not None
        options = [("pool", "pool"), ("rank variable r", "r")] if has_r else [("pool", "pool")]
        self.color_by = widgets.ToggleButtons(options=options, value="pool", description="colour by",
                                              style={"button_width": "auto"})
        self._watch(self.color_by)
        self._finish([self.color_by])

    def _build(self) -> go.Figure:
        return latent_figure(self.xy_labeled, self.xy_candidates, self.selected_mask, self.r_labeled,
                             self.r_candidates, color_by=self.color_by.value, explained=self.explained,
                             title=self.title)
