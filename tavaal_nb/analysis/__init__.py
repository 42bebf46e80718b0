"""The read side: what a set of results says, as numbers, figures and reports. It reads results files and
the engine's outputs; the engine never imports it.

==================  ===================================================================================
:mod:`.stats`       the numbers behind every figure: mean and spread, pooled learning curves, class-count
                    entropies by size, paired comparisons between methods
:mod:`.multiplicity`  many comparisons at once: AULC first, simultaneous (Bonferroni) intervals, Holm-adjusted
                    p values, a noise floor below which a difference counts as none, trials for a half-width
:mod:`.grouping`    which results measure the same thing, and merging them
:mod:`.plots`       plotly figure builders (the paper's figures and the course's pictures)
:mod:`.report`      a self-contained HTML report
:mod:`.evidence`    the shipped results the course opens on, described honestly
:mod:`.paper`       the paper's reported accuracies, compared with a set of results
:mod:`.figure_data`  what the figures and views show, computed without drawing (histograms, ranking-loss curves,
                    PCA, image grids)
:mod:`.checkout`    which checkout of the repository, if any, the code runs in
==================  ===================================================================================
"""
