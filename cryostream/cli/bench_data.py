"""Data tools beside the product, for the benchmark: ``bench-truth`` (truth centres from label
masks), ``bench-simulate`` (simulated micrographs like real held-out data) and
``bench-make-crowded`` (crowded 4k MRC sets from real crowded micrographs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..session.errors import UsageError
from ..session.selection import Selection, select_inputs
from .common import add_command, console


def bench_truth(
    masks: Annotated[Path, typer.Argument(help="Folder of label masks (PNG/JPEG/TIFF, searched "
                                          "recursively): filled discs drawn over the particles.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the truth files "
                                      "<mask name>.star (x, y in pixels of the micrographs).")
                   ] = Path("truth"),
    images: Annotated[Path | None, typer.Option(
        help="Folder of the micrographs (searched recursively, matched by file name stem): each "
        "mask is resized to its micrograph first. Without it, coordinates are in mask pixels.")
                      ] = None,
    radius: Annotated[float | None, typer.Option(
        "--radius", help="Drawn disc radius in pixels of the micrographs (default: measured "
        "from the masks' single discs).")] = None,
) -> None:
    """Truth centres from label masks of drawn discs by a greedy union-of-discs fit: place the
    disc, at the drawn radius, that covers the most uncovered label pixels among centres whose
    disc lies inside the mask (within one mask pixel), until a new disc covers under 20 % new
    area. Touching discs merged into one blob are counted one by one."""
    from ..bench.truth import fit_mask_files, mask_files, write_coordinates

    mask_paths = mask_files(masks)
    found = ({} if images is None else {path.stem: path for path in select_inputs(
        [str(images)], Selection.from_options(["*"], None, default_excludes=False)).micrographs})
    missing = [path.name for path in mask_paths if images is not None and path.stem not in found]
    if missing:
        raise UsageError(f"{images}: no micrograph for the masks {', '.join(missing[:3])}")
    fit = fit_mask_files(mask_paths, [found.get(path.stem) for path in mask_paths], radius)
    note = (f"cryostream bench-truth: greedy union of discs, radius {fit.radius_px:.2f} px, "
            f"slack {fit.slack_px:.2f} px")
    for name, xy in fit.centres.items():
        write_coordinates(xy, out / f"{name}.star", [note])
    console.print(f"drawn radius {fit.radius_px:.2f} px (diameter {2 * fit.radius_px:.1f} px); "
                  f"{fit.total} centres in {len(fit.centres)} masks written to {out}",
                  highlight=False)



def bench_simulate(
    data: Annotated[Path, typer.Argument(help="Folder to write the sets into (one folder per "
                                         "set, the layout bench reads).")],
    sets: Annotated[str | None, typer.Option(help="Comma-separated recipe names (default: all: "
                                             "sim-globular-4k, sim-tetramer-4k, sim-shell-2k, "
                                             "sim-ribosome-2k).")] = None,
    micrographs: Annotated[int, typer.Option(min=1, help="Micrographs per set.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same files.")
                    ] = 0,
) -> None:
    """Write simulated labelled sets like real held-out data: float32 MRCs with a real pixel size
    (0.83-1.4 Å/px), phase contrast through a 300 kV CTF at 0.8-2.5 µm defocus, crowded
    projections of blobby 3-D particles (110-250 Å) in random orientations, ice thickness
    gradients, contamination, carbon edges and counting noise; truth in pixels of the images and
    meta.json with particle_diameter_angstrom."""
    from ..bench.simulated_sets import write_simulated_sets

    try:
        written = write_simulated_sets(data, [name for name in (sets or "").split(",") if name],
                                       micrographs, seed)
    except ValueError as error:
        raise UsageError(str(error)) from error
    for bench_set in written:
        console.print(f"wrote {bench_set.folder}: {len(bench_set.images)} micrographs, particle "
                      f"{bench_set.diameter_angstrom:g} Å at {bench_set.pixel_size_angstrom:g} "
                      "Å/px", highlight=False)


def bench_make_crowded(
    source: Annotated[Path, typer.Argument(help="A bench set of crowded real micrographs (e.g. "
                                           "trpv1-10059), all of one size.")],
    out: Annotated[Path, typer.Argument(help="The set folder to write (outside the repository).")],
    size: Annotated[int, typer.Option(min=64, help="Width of the new micrographs in px.")] = 4096,
    tiles: Annotated[int, typer.Option(min=1, help="Source micrographs per side of a new one.")
                     ] = 1,
    quarter_turns: Annotated[str, typer.Option(
        "--quarter-turns", help="Comma-separated quarter turns; each makes one new micrograph per "
        "source micrograph (odd ones turn oblong micrographs into a second size).")] = "0,2",
    pixel_size: Annotated[float, typer.Option(help="Nominal pixel size for the headers (Å/px); "
                                              "the diameter in Å follows from it.")] = 1.1,
    seed: Annotated[int, typer.Option(help="Random seed of the noise.")] = 0,
) -> None:
    """Make a crowded float32 MRC set from a set of crowded real micrographs: each new micrograph
    is TILES x TILES source micrographs, turned, upsampled bicubically to SIZE px, with pixel-level
    noise matched to the sources' (invisible at the sources' scale); truth centres follow the same
    turns, tiling and scaling."""
    from ..bench.crowded import make_crowded_set

    try:
        turns = tuple(int(value) for value in quarter_turns.split(",") if value.strip())
    except ValueError as error:
        raise UsageError(f"--quarter-turns must be comma-separated whole numbers, got "
                         f"{quarter_turns!r}") from error
    made = make_crowded_set(source, out, size, tiles, turns, pixel_size, seed)
    console.print(f"wrote {made.folder}: {len(made.images)} micrographs of {size} px, particle "
                  f"{made.diameter_angstrom:g} Å = {made.diameter_px:.1f} px", highlight=False)


def register(app: typer.Typer) -> None:
    add_command(app, bench_truth, "Truth centres from label masks of drawn discs.", "bench-truth")
    add_command(app, bench_simulate, "Write simulated labelled micrograph sets.", "bench-simulate")
    add_command(app, bench_make_crowded,
                "Make a crowded 4k MRC set from real micrographs.", "bench-make-crowded")
