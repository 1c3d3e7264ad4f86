"""CryoSPARC datasets: the exposures read, the particle dataset built from the picks, and the
``.cs``/``.csg`` files of the offline mode.

Particle centres are stored as fractions of the micrograph (x / nx, y / ny) as CryoSPARC does;
``location/micrograph_shape`` is [ny, nx] in pixels and sizes are in Å.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from cryostream.io import BadInputError
from cryostream.picker import Picks
from cryostream.star import write_atomically

# The particle fields built, with their dtypes as Dataset.descr() reports them ("uid" comes first).
PARTICLE_FIELDS: list[tuple] = [
    ("location/micrograph_uid", "<u8"),
    ("location/exp_group_id", "<u4"),
    ("location/micrograph_path", "|O"),
    ("location/micrograph_shape", "<u4", (2,)),
    ("location/center_x_frac", "<f4"),
    ("location/center_y_frac", "<f4"),
    ("location/min_dist_A", "<f4"),
    ("location/micrograph_psize_A", "<f4"),
    ("pick_stats/ncc_score", "<f4"),
]
PARTICLE_SLOTS = ["location", "pick_stats"]
# Where an exposure dataset keeps its exposure group, in the order looked at.
GROUP_FIELDS = ("mscope_params/exp_group_id", "ctf/exp_group_id")


@dataclass(frozen=True)
class Exposure:
    """One CryoSPARC exposure: its uid, micrograph path as CryoSPARC records it (relative to the
    project directory), pixel size in Å/px and exposure group (0 when the exposures carry none)."""

    uid: int
    path: str
    pixel_size_angstrom: float
    exp_group_id: int = 0


def exposures_from_dataset(dataset: Any, source: str = "exposures") -> list[Exposure]:
    """The exposures of a CryoSPARC exposure dataset (needs the ``micrograph_blob`` slot; the
    group comes from ``mscope_params``, else ``ctf``)."""
    fields = set(dataset.fields())
    missing = {"micrograph_blob/path", "micrograph_blob/psize_A"} - fields
    if missing:
        raise BadInputError(source, f"exposures lack the fields {', '.join(sorted(missing))} "
                            "(connect an output with micrographs, e.g. exposures_accepted)")
    paths = [value.decode() if isinstance(value, bytes) else str(value)
             for value in dataset["micrograph_blob/path"]]
    group_field = next((field for field in GROUP_FIELDS if field in fields), None)
    groups = (dataset[group_field] if group_field else np.zeros(len(paths), np.uint32))
    return [Exposure(int(uid), path, float(pixel_size), int(group)) for uid, path, pixel_size, group
            in zip(dataset["uid"], paths, dataset["micrograph_blob/psize_A"], groups, strict=True)]


def particles_dataset(picked: Sequence[tuple[Exposure, Picks]],
                      min_distance_diameters: float) -> Any:
    """A CryoSPARC particle dataset with :data:`PARTICLE_FIELDS`, one row per pick;
    ``location/min_dist_A`` is ``min_distance_diameters`` times the diameter each micrograph was
    picked at (measured with ``--diameter auto``, checked per micrograph)."""
    from cryosparc.dataset import Dataset

    rows = sum(len(picks) for _, picks in picked)
    dataset = Dataset.allocate(rows, PARTICLE_FIELDS)
    if rows == 0:
        return dataset
    counts = [len(picks) for _, picks in picked]

    def per_exposure(values: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), counts, axis=0)

    dataset["location/micrograph_uid"] = per_exposure([exposure.uid for exposure, _ in picked])
    dataset["location/exp_group_id"] = per_exposure([exposure.exp_group_id
                                                     for exposure, _ in picked])
    dataset["location/micrograph_path"] = np.repeat(
        np.array([exposure.path for exposure, _ in picked], dtype=object), counts)
    dataset["location/micrograph_shape"] = per_exposure(
        np.array([picks.micrograph_shape for _, picks in picked], dtype=np.uint32))
    dataset["location/center_x_frac"] = np.concatenate(
        [picks.x / picks.micrograph_shape[1] for _, picks in picked])
    dataset["location/center_y_frac"] = np.concatenate(
        [picks.y / picks.micrograph_shape[0] for _, picks in picked])
    dataset["location/min_dist_A"] = per_exposure(
        [min_distance_diameters * picks.diameter_px * picks.pixel_size_angstrom
         for _, picks in picked])
    dataset["location/micrograph_psize_A"] = per_exposure(
        [picks.pixel_size_angstrom for _, picks in picked])
    dataset["pick_stats/ncc_score"] = np.concatenate(
        [picks.figure_of_merit for _, picks in picked])
    return dataset


def copy_fields(particles: Any, output: Any) -> list[str]:
    """Copy every field of ``particles`` that ``output`` (allocated by the server for the particle
    output, with the same rows) has into it; returns the fields it has not (left out). Fields
    only the server's output has keep the values it allocated them with."""
    present = set(output.fields())
    for field in particles.fields():
        if field != "uid" and field in present:
            output[field] = particles[field]
    return sorted(set(particles.fields()) - present)


def write_cs(dataset: Any, path: str | Path) -> Path:
    """Write a dataset as a numpy-format ``.cs`` file, atomically."""
    buffer = io.BytesIO()
    dataset.save(buffer)
    return write_atomically(path, buffer.getvalue())


def read_cs(path: str | Path) -> Any:
    """Read a ``.cs`` file; an unreadable one is a :class:`BadInputError` naming it."""
    from cryosparc.dataset import Dataset

    try:
        return Dataset.load(path)
    except Exception as error:  # numpy and cryosparc raise many types on malformed files
        raise BadInputError(path, f"not a readable CryoSPARC .cs file ({error})") from error


def csg_text(cs_name: str, count: int, name: str, title: str) -> str:
    """The ``.csg`` result group CryoSPARC writes beside an exported ``.cs`` (and Import Result
    Group reads): a particle group whose :data:`PARTICLE_SLOTS` all live in ``cs_name``, a path
    relative to the ``.csg`` (the leading ``>``)."""
    results = "".join(f"  {slot}:\n    metafile: '>{cs_name}'\n    num_items: {count}\n"
                      f"    type: particle.{slot}\n" for slot in PARTICLE_SLOTS)
    return (f"created: '{date.today().isoformat()}'\n"
            f"group:\n  description: {title}\n  name: {name}\n  title: {title}\n"
            f"  type: particle\nresults:\n{results}"
            f"version: v{metadata.version('cryosparc-tools')}\n")


def write_csg(cs_path: Path, count: int, name: str, title: str) -> Path:
    """Write the result group of the particles in ``cs_path`` next to it (same name, ``.csg``)."""
    return write_atomically(cs_path.with_suffix(".csg"), csg_text(cs_path.name, count, name,
                                                                   title))
