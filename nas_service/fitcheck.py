"""Does a search space fit the proxy task it is about to be trained on? Checked when a job is submitted.

A space (or a scaling job's base network) is written for some input size and number of classes; the proxy task
trains it on one dataset at one resolution. Three things can go silently wrong, and :func:`check_fit` says so:

* **Classes and channels** differ from the dataset's: every candidate's classifier (and stem) is sized to the
  data, as the dispatcher always does. Not an error, but the submitter is *told* (a note).
* **``proxy.resolution`` is ignored**: a space with several ``resolutions`` (or ``phis``) searches the input size
  itself, so an explicit ``proxy.resolution`` never reaches a trial. Refused (field ``proxy.resolution``).
* **A large-input space on tiny images**: a space designed for 224 px trained at 16 px downsamples to one pixel
  after a couple of stages and learns next to nothing. Refused when the trained resolution is below a quarter of
  the largest resolution the space (or base network) was written for (field ``proxy.resolution``, or
  ``space.resolutions`` when the space searches the resolution itself).

Refusals are overridden with ``force: true`` in the job (``nas job submit --force``): the job then runs as asked
and the problems come back as notes. Pure policy: no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture
    from nas_service.jobspec import JobSpec
    from nas_service.space import SearchSpace

#: A candidate trained below ``design / MIN_SCALE`` pixels is refused (224 px -> 56 px is the lowest accepted).
MIN_SCALE = 4


@dataclass(frozen=True)
class DatasetShape:
    """What a bundled dataset looks like: the network must end in ``classes`` and start from ``channels``.

    Attributes:
        classes: Number of labels.
        channels: Image channels.
        native_px: Side of the stored images (they are resized to the proxy resolution).
    """

    classes: int
    channels: int
    native_px: int


#: The datasets whose shape never depends on files (``imagefolder``/``npz`` are learned from the data).
BUILTIN_DATASETS: dict[str, DatasetShape] = {
    "digits": DatasetShape(classes=10, channels=1, native_px=8),
    "synthetic": DatasetShape(classes=10, channels=3, native_px=16),
    "cifar10": DatasetShape(classes=10, channels=3, native_px=32),
}


@dataclass(frozen=True)
class FitProblem:
    """A mismatch that refuses the job unless forced.

    Attributes:
        field: The job field to change (dotted path, as in a 422's ``error.field``).
        message: One sentence saying what is wrong and how to fix it.
    """

    field: str
    message: str


@dataclass(frozen=True)
class FitReport:
    """The outcome of :func:`check_fit`.

    Attributes:
        notes: What will be adapted (and, for a forced job, what was refused), for the submitter to read.
        problems: Mismatches that refuse the job unless ``force`` is set.
        resolutions: The input resolutions the trials will train at.
    """

    notes: list[str] = field(default_factory=list)
    problems: list[FitProblem] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=list)


def searches_resolution(space: SearchSpace) -> bool:
    """Whether a space picks each candidate's input size itself (several ``resolutions`` or ``phis``)."""
    return len(space.resolutions) > 1 or len(space.phis) > 1


def trained_resolutions(space: SearchSpace) -> list[int]:
    """Every input size a candidate of ``space`` can have once compound scaling is applied (sorted)."""
    from nas_service.space._codec import scaled

    return sorted({scaled(space, r, phi)["resolution"] for r in space.resolutions for phi in space.phis})


def _shape_notes(what: str, classes: int, channels: int, spec: JobSpec) -> list[str]:
    data = BUILTIN_DATASETS.get(spec.proxy.dataset)
    if data is None:
        return [f"{what}'s classifier and stem are sized to the {spec.proxy.dataset} data's classes and channels"]
    notes = []
    if classes != data.classes:
        notes.append(
            f"{what} has a {classes}-class head; each candidate's classifier is sized to "
            f"{spec.proxy.dataset}'s {data.classes} classes"
        )
    if channels != data.channels:
        notes.append(f"{what} takes {channels}-channel input; candidates take {spec.proxy.dataset}'s {data.channels}")
    return notes


def _too_small(design: int, trained: int) -> bool:
    return trained * MIN_SCALE < design


def check_space_fit(spec: JobSpec, space: SearchSpace, *, resolution_given: bool) -> FitReport:
    """Check a search job's space against its proxy task.

    Args:
        spec: The job.
        space: Its search space.
        resolution_given: The submitter set ``proxy.resolution`` explicitly (a default is never "ignored").

    Returns:
        Notes (adaptations) and problems (refusals unless forced).
    """
    notes = _shape_notes(f"space {space.name!r}", space.skeleton.num_classes, space.skeleton.in_channels, spec)
    problems: list[FitProblem] = []
    design = max(space.resolutions)
    if searches_resolution(space):
        sizes = trained_resolutions(space)
        shown = "/".join(map(str, sizes))
        if resolution_given and sizes != [spec.proxy.resolution]:
            problems.append(
                FitProblem(
                    "proxy.resolution",
                    f"proxy.resolution {spec.proxy.resolution} is ignored: space {space.name!r} searches the input "
                    f"size itself ({shown} px); drop proxy.resolution, or give the space one resolution",
                )
            )
        notes.append(f"trials train at the space's own resolutions ({shown} px), not proxy.resolution")
        if _too_small(design, min(sizes)):
            problems.append(
                FitProblem(
                    "space.resolutions",
                    f"space {space.name!r} is written for {design} px but searches down to {min(sizes)} px "
                    f"(below {design // MIN_SCALE} px a {design} px design learns next to nothing)",
                )
            )
        return FitReport(notes=notes, problems=problems, resolutions=sizes)
    trained = spec.proxy.resolution
    if _too_small(design, trained):
        problems.append(
            FitProblem(
                "proxy.resolution",
                f"space {space.name!r} is written for {design} px inputs but proxy.resolution is {trained} px "
                f"(at least {-(-design // MIN_SCALE)} px); use a space sized for the data "
                f"(examples/spaces/) or raise proxy.resolution",
            )
        )
    elif trained != design:
        notes.append(f"trials train at proxy.resolution {trained} px (the space is written for {design} px)")
    return FitReport(notes=notes, problems=problems, resolutions=[trained])


def check_scaling_fit(spec: JobSpec, base: Architecture, *, preset: bool) -> FitReport:
    """Check a compound-scaling (or netadapt) job's base network against its proxy task.

    Args:
        spec: The job (``kind: scaling``); its ``proxy.resolution`` is the base's trained size.
        base: The base network.
        preset: The base is a named preset, so its ``resolution`` is what it was designed for (block strings carry
            no resolution of their own: only classes and channels are checked then).

    Returns:
        Notes and problems, as :func:`check_space_fit`.
    """
    notes = _shape_notes("the base network", base.num_classes, base.in_channels, spec) if preset else []
    problems: list[FitProblem] = []
    trained = spec.proxy.resolution
    if preset and _too_small(base.resolution, trained):
        problems.append(
            FitProblem(
                "proxy.resolution",
                f"the base network is written for {base.resolution} px inputs but proxy.resolution is {trained} px "
                f"(at least {-(-base.resolution // MIN_SCALE)} px); scale a smaller base or raise proxy.resolution",
            )
        )
    if spec.kind == "netadapt":
        notes.append(f"the base trains at proxy.resolution {trained} px; NetAdapt shrinks it at that size")
    else:
        notes.append(f"the base trains at proxy.resolution {trained} px; scaled candidates grow from there")
    return FitReport(notes=notes, problems=problems, resolutions=[trained])


def forced(report: FitReport) -> FitReport:
    """The report of a forced job: its problems become notes (the job runs as asked)."""
    extra = [f"forced: {p.message} ({p.field})" for p in report.problems]
    return FitReport(notes=report.notes + extra, problems=[], resolutions=report.resolutions)
