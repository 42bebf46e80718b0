"""The package's version (also ``tavaal_nb.__version__``; pyproject.toml's ``version`` must equal it)."""

__version__ = "0.2.0"
