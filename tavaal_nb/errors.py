"""Errors a user can act on."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "ResultsMismatchError", "FolderBusyError", "OutputFolderError", "ResultsSaveError",
           "LinkRefusedError", "SelectionError", "NeverQueriedWarning", "ResultsFileError"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; names the model and the step."""

    def __init__(self, model: str, step: int, detail: str = "") -> None:
        self.model, self.step = model, step
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"the {model} loss became NaN or infinite at step {step}{extra}; the run stopped after saving "
            f"its finished cycles. Lower the learning rate or check the data, then --resume."
        )


class ResultsMismatchError(ValueError):
    """An existing results file cannot be continued by this command."""


class ResultsFileError(ValueError):
    """A file that cannot be read as the tavaal-nb document it should be (results, manifest, upper bound)."""


class FolderBusyError(RuntimeError):
    """Another process (or another call in this one) is writing the same results folder."""


class OutputFolderError(OSError):
    """The output folder cannot be created or written; found before any training."""


class ResultsSaveError(OSError):
    """Saving the results file failed mid-run (disk full, folder gone); the cycles saved before are kept."""


class LinkRefusedError(OSError):
    """A file tavaal-nb writes is a symbolic link someone else placed; it is never written through."""


class SelectionError(ValueError):
    """A strategy returned a selection the loop cannot use (wrong count, duplicates, not candidates, ...)."""


class NeverQueriedWarning(UserWarning):
    """A run whose strategies are never asked to select: with one cycle no query is made."""
