"""The one error type users see: `path: location: what is wrong and how to fix it`."""

from __future__ import annotations

from os import PathLike


class MasterbuildError(Exception):
    """A problem with the user's input or environment, reported as one line.

    Parameters
    ----------
    path : the file the problem is in (manifest, source, output folder).
    location : where inside it (a manifest key path such as ``tracks[3].isrc``,
        or a short word such as ``audio``); ``"-"`` when it is the whole file.
    message : what is wrong and, where possible, how to fix it.
    """

    def __init__(self, path: str | PathLike[str], location: str, message: str) -> None:
        self.path = str(path)
        self.location = location
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.location}: {self.message}"


class ManifestErrors(MasterbuildError):
    """Several manifest problems found at once; each is a MasterbuildError."""

    def __init__(self, problems: list[MasterbuildError]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.path, first.location, first.message)

    def __str__(self) -> str:
        return "\n".join(f"{p.path}: {p.location}: {p.message}" for p in self.problems)
