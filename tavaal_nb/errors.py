"""Errors a user can act on."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "ResultsMismatchError"]


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
