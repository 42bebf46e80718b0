"""Sphinx configuration of the course site (Sphinx + myst-nb; see docs/site/build.py, which copies this
file into the source folder it assembles and runs ``sphinx-build -W`` on it).

The notebooks arrive executed (myst-nb executes nothing), with their widgets frozen into plotly figures
whose HTML draws with ``_static/plotly.min.js``; MathJax 2 comes from ``_static/mathjax`` (parts of
Debian's libjs-mathjax): no page loads anything from another site.
"""

import os

project = "TA-VAAL: an interactive course"
author = "the tavaal-nb authors"
copyright = "the tavaal-nb authors (MIT licence)"
PRESET = os.environ.get("TAVAAL_SITE_PRESET", "ci")

extensions = ["myst_nb", "sphinxcontrib.bibtex"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# MyST: $...$ and $$...$$ math, \begin{align} blocks, ::: fences, heading anchors for #links
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# myst-nb: the notebooks are executed by build.py; show their outputs as they are
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "show"

# bibliography (sphinxcontrib-bibtex): the teaching kit's references.bib, on the References page
bibtex_bibfiles = ["docs/teaching/references.bib"]
bibtex_default_style = "plain"
bibtex_reference_style = "author_year"

# offline: local MathJax 2 and plotly.js
# MathJax 2 (Debian's libjs-mathjax, the parts build.py copies): TeX input, HTML-CSS output, TeX web fonts.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML"
mathjax2_config = {"fast-preview": {"disabled": True}, "showMathMenu": False, "messageStyle": "none",
                   "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "TeX", "imageFont": None,
                                # MathJax_Blank, the fallback for glyphs a web font lacks, is a font at
                                # about:blank, which Chromium reports as a console error: a local() font instead
                                "styles": {"@font-face": {"font-family": "MathJax_Blank",
                                                          "src": "local('MathJax_Blank')"}}},
                   "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                               "processRefs": False, "processEnvironments": False,
                               # MyST marks each page tex2jax_ignore and its math elements "math" (v2 spelling)
                               "ignoreClass": "tex2jax_ignore|mathjax_ignore",
                               "processClass": "tex2jax_process|mathjax_process|math|output_area"}}
myst_update_mathjax = False  # MyST would write the same classes into a MathJax 3/4 config
html_static_path = ["_static"]
html_js_files = ["plotly.min.js"]
html_css_files = []

html_theme = "sphinx_book_theme"
html_title = "TA-VAAL course"
html_context = {"default_mode": "light"}  # the theme logs a console error when no mode is set
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "extra_footer": f"<p>Notebooks executed at the <code>{PRESET}</code> preset "
                    "(<code>make site PRESET=...</code>).</p>",
}
html_last_updated_fmt = None
suppress_warnings = ["mystnb.unknown_mime_type"]
