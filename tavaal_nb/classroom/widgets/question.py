"""A question attached to a view: the view asks something, the learner types an answer under it."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from tavaal_nb.classroom.widgets._base import View

__all__ = ["Question", "ask"]


class Question:
    """A view with a question above it, a box for the learner's answer below it and, optionally, a hint
    behind a button. Displays itself; ``.view`` is the view, ``.answer`` the text typed so far.

    Example::

        from tavaal_nb.classroom.widgets import LatentExplorer, ask
        ask(LatentExplorer(selection), "Colour by r: are the stars where r is high?",
            hint="Compare the stars' colours with the candidates around them.")
    """

    def __init__(self, view: View, question: str, hint: str | None = None) -> None:
        if not question.strip():
            raise ValueError("a Question needs the text of its question")
        self.view, self.question, self.hint = view, question, hint
        self._prompt = widgets.HTML(f"<b>Question.</b> {escape(question)}")
        self._answer = widgets.Textarea(placeholder="your answer (kept only in this session)",
                                        layout=widgets.Layout(width="100%", height="60px"))
        parts: list[widgets.Widget] = [self._prompt, view.widget, self._answer]
        if hint:
            self._hint = widgets.HTML()
            button = widgets.Button(description="show a hint", button_style="info")

            def reveal(_button: widgets.Button) -> None:
                self._hint.value = f"<i>Hint: {escape(hint)}</i>"

            button.on_click(reveal)
            parts += [button, self._hint]
        self.widget = widgets.VBox(parts)
        self.widget.add_class("tavaal-question")

    @property
    def answer(self) -> str:
        """What the learner typed in the answer box."""
        return self._answer.value

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"<Question: {self.question}>\n{self.view!r}"
        return bundle

    def __repr__(self) -> str:
        return f"<Question: {self.question}>"


def ask(view: View, question: str, hint: str | None = None) -> Question:
    """Attach ``question`` (and an optional ``hint``) to ``view``; see :class:`Question`."""
    return Question(view, question, hint)
