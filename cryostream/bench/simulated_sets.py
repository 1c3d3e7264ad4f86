"""The simulated bench sets: fixed recipes (:data:`SIMULATED_SETS`) written by
``cryostream bench-simulate OUT`` as float32 MRCs with their real pixel size, truth STARs and a
``meta.json`` giving ``particle_diameter_angstrom``. The same recipe and seed give the same files.

Each set is one kind of particle at one pixel size; its micrographs spread over the set's defocus
range, and alternate carbon and contamination as the recipe says, since real sessions mix them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .sets import BenchSet, load_set, write_meta
from .simulate import Conditions, simulate_micrograph
from .synthetic import write_mrc
from .truth import write_coordinates


@dataclass(frozen=True)
class SimulatedSet:
    """A recipe: the conditions every micrograph shares, the defocus range (Å) they spread over,
    on which micrographs there is carbon (every ``carbon_every``-th, 0 = none) and the most
    contaminating blobs one micrograph gets."""

    name: str
    description: str
    base: Conditions
    defocus_range_angstrom: tuple[float, float] = (8000.0, 25000.0)
    carbon_every: int = 0
    max_contaminations: int = 2

    def conditions(self, index: int, count: int) -> Conditions:
        """The conditions of micrograph ``index`` of ``count``."""
        low, high = self.defocus_range_angstrom
        defocus = low + (high - low) * index / max(count - 1, 1)
        carbon = self.carbon_every > 0 and index % self.carbon_every == self.carbon_every - 1
        return replace(self.base, defocus_angstrom=defocus, carbon=carbon,
                       contaminations=index % (self.max_contaminations + 1))


SIMULATED_SETS = (
    SimulatedSet("sim-globular-4k", "crowded asymmetric globular protein, 140 Å at 1.06 Å/px",
                 Conditions((4096, 4096), 1.06, "globular", 140.0, area_fraction=0.45,
                            min_distance_diameters=0.85, ice_angstrom=(250.0, 700.0)),
                 carbon_every=3),
    SimulatedSet("sim-tetramer-4k", "ion-channel-like tetramer, 110 Å at 0.83 Å/px, thin ice",
                 Conditions((4096, 4096), 0.83, "tetramer", 110.0, area_fraction=0.35,
                            ice_angstrom=(200.0, 450.0)),
                 defocus_range_angstrom=(8000.0, 20000.0), carbon_every=2),
    SimulatedSet("sim-shell-2k", "hollow cage (apoferritin-like), 125 Å at 1.34 Å/px, thick "
                 "ice gradient", Conditions((2048, 2048), 1.34, "shell", 125.0, area_fraction=0.4,
                                            ice_angstrom=(300.0, 900.0))),
    SimulatedSet("sim-ribosome-2k", "two-domain particle (ribosome-like), 250 Å at 1.4 Å/px, "
                 "carbon edge on every micrograph", Conditions(
                     (2048, 2048), 1.4, "two-domain", 250.0, area_fraction=0.3,
                     ice_angstrom=(400.0, 800.0)),
                 defocus_range_angstrom=(12000.0, 25000.0), carbon_every=1,
                 max_contaminations=1),
)


def simulated_set(name: str) -> SimulatedSet:
    """The recipe called ``name``."""
    known = {recipe.name: recipe for recipe in SIMULATED_SETS}
    if name not in known:
        raise ValueError(f"no simulated set {name!r}; known: {', '.join(known)}")
    return known[name]


def write_simulated_set(folder: str | Path, recipe: SimulatedSet, n_micrographs: int = 8,
                        seed: int = 0) -> BenchSet:
    """Write ``recipe`` as a bench set in ``folder``: images/<name>.mrc (float32, real pixel size),
    truth/<name>.star and meta.json with the conditions of every micrograph."""
    folder = Path(folder)
    pixel = recipe.base.pixel_size_angstrom
    micrographs = {}
    for index in range(n_micrographs):
        conditions = recipe.conditions(index, n_micrographs)
        simulated = simulate_micrograph(conditions, seed=seed * 1000 + index)
        name = f"{recipe.name}_{index:03d}"
        write_mrc(simulated.image, folder / "images" / f"{name}.mrc", pixel)
        write_coordinates(np.column_stack([simulated.x, simulated.y]),
                          folder / "truth" / f"{name}.star")
        micrographs[name] = {"particles": len(simulated.x),
                             "defocus_angstrom": conditions.defocus_angstrom,
                             "carbon": conditions.carbon,
                             "contaminations": conditions.contaminations}
    write_meta(folder, particle_diameter_angstrom=recipe.base.diameter_angstrom,
               pixel_size_angstrom=pixel, description=recipe.description,
               source=f"simulated by cryostream.bench.simulate (seed {seed}); rebuild with "
               f"`python -m cryostream bench-simulate {folder.parent} --sets {recipe.name} "
               f"--micrographs {n_micrographs} --seed {seed}`",
               conditions=_plain(asdict(recipe.base)), micrographs=micrographs)
    return load_set(folder)


def _plain(values: dict) -> dict:
    """JSON-ready conditions (tuples as lists; per-micrograph values are listed separately)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in values.items()
            if key not in ("defocus_angstrom", "carbon", "contaminations")}


def write_simulated_sets(data: str | Path, names: Sequence[str] = (), n_micrographs: int = 8,
                         seed: int = 0) -> list[BenchSet]:
    """Write the named recipes (default: all) as sets under ``data``."""
    recipes = [simulated_set(name) for name in names] if names else list(SIMULATED_SETS)
    return [write_simulated_set(Path(data) / recipe.name, recipe, n_micrographs, seed)
            for recipe in recipes]
