"""The exceptions tokensim raises, with the same text the CLI prints."""

from __future__ import annotations


class TokensimError(Exception):
    """Any tokensim error: a missing file, existing results, bad data."""


class ScenarioError(TokensimError):
    """A problem in a scenario, located at ``file:line:column`` and naming the
    dotted ``path`` of the offending field (``contracts.curve.slope``).

    ``str(e)`` is what ``tokensim`` prints after ``error:``. ``line`` is 0 when
    the field has no place in the file (an override).
    """

    def __init__(self, text: str, file: str, line: int, column: int, path: str, message: str) -> None:
        super().__init__(text)
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message


class BehaviourError(TokensimError):
    """A Python behaviour failed: it raised, or returned a frame with a wrong
    column, type, unknown contract or action. Names the ``behaviour``, its
    ``population`` and the ``tick``."""

    def __init__(self, text: str, behaviour: str, population: str, tick: int, message: str) -> None:
        super().__init__(text)
        self.behaviour = behaviour
        self.population = population
        self.tick = tick
        self.message = message
