"""What a build would redo, and why (`masterbuild status`)."""

from __future__ import annotations

from pathlib import Path

from masterbuild.inputs import current_inputs
from masterbuild.manifest.load import LoadedAlbum
from masterbuild.plan import plan_album
from masterbuild.state import diff_inputs, read_stamp


def pending(album: LoadedAlbum, formats: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """(task name, reasons) for every task a build would run, in build order.

    A task downstream of one that will run is listed "after" it; whether it really
    reruns depends on that upstream result (an unchanged result stops there).
    """
    out: list[tuple[str, list[str]]] = []
    will_run: set[str] = set()
    for spec in plan_album(album, formats):
        upstream = [d for d in spec.task_dep if d in will_run]
        reasons: list[str]
        if upstream:
            more = f" (+{len(upstream) - 1} more)" if len(upstream) > 1 else ""
            reasons = [f"after {upstream[0]}{more}"]
        else:
            stamp = read_stamp(Path(spec.state_dir), spec.name)
            missing = [t for t in spec.targets if not Path(t).exists()]
            if stamp is None:
                reasons = ["never built"]
            elif missing:
                reasons = [f"missing {Path(missing[0]).name}"]
            else:
                reasons = diff_inputs(stamp["inputs"], current_inputs(spec))
                reasons = [r.replace("files.source", "source mix (content)") for r in reasons]
                if spec.kind == "notes" and reasons:  # its one input is a fingerprint
                    reasons = ["changes since the last session-notes entry"]
        if reasons:
            will_run.add(spec.name)
            out.append((spec.name, reasons))
    return out
