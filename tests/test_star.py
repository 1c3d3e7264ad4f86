from pathlib import Path

import numpy as np
import pytest
import starfile

from cryostream.io import BadInputError
from cryostream.picker import Picks
from cryostream.star import (
    read_coordinates,
    write_atomically,
    write_box,
    write_combined_star,
    write_star,
)


def _picks(name: str = "mic.mrc", n: int = 3) -> Picks:
    return Picks(x=np.arange(n) * 10.0 + 5, y=np.arange(n) * 20.0 + 7,
                 figure_of_merit=np.linspace(1, 2, n), diameter_px=40.0, pixel_size_angstrom=1.5,
                 micrograph_shape=(100, 100), micrograph=Path(name))


def test_relion_coordinate_star_has_autopick_columns(tmp_path: Path) -> None:
    path = write_star(_picks(), tmp_path / "mic_autopick.star", comments=["made by a test"])
    table = starfile.read(path)
    assert list(table.columns) == ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber",
                                   "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    assert table["rlnCoordinateX"].tolist() == [5.0, 15.0, 25.0]
    assert path.read_text().startswith("# made by a test\n")
    assert "\ndata_\n" in path.read_text()


def test_empty_picks_round_trip(tmp_path: Path) -> None:
    path = write_star(_picks(n=0), tmp_path / "empty_autopick.star")
    assert len(read_coordinates(path)) == 0


def test_combined_star_names_each_micrograph(tmp_path: Path) -> None:
    path = write_combined_star([("/data/a.mrc", _picks("a.mrc", 2)),
                                ("/data/b.mrc", _picks("b.mrc", 3))], tmp_path / "p.star")
    table = starfile.read(path)
    assert table["rlnMicrographName"].tolist() == ["/data/a.mrc"] * 2 + ["/data/b.mrc"] * 3


def test_box_file_holds_corner_and_size(tmp_path: Path) -> None:
    lines = write_box(_picks(n=1), tmp_path / "m.box").read_text().split()
    assert lines == ["-15", "-13", "40", "40"]


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_atomically(tmp_path / "f.txt", "one")
    write_atomically(tmp_path / "f.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "two"
    assert (tmp_path / "f.txt").stat().st_mode & 0o044 == 0o044  # readable by group and others


@pytest.mark.parametrize("text", ["data_\nloop_\n_rlnSomething #1\n1\n", "\x00\x01garbage"])
def test_unreadable_star_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.star"
    path.write_text(text)
    with pytest.raises(BadInputError, match="bad.star"):
        read_coordinates(path)


@pytest.mark.parametrize(("block", "column", "value", "where"), [
    ("", "rlnCoordinateY", "abc", "row 2, column rlnCoordinateY: 'abc'"),
    ("", "rlnCoordinateX", "nan", "row 2, column rlnCoordinateX: nan"),
    ("particles", "rlnAutopickFigureOfMerit", "inf",
     "row 2 of data_particles, column rlnAutopickFigureOfMerit: inf"),
])
def test_a_coordinate_that_is_not_a_number_names_row_and_column(tmp_path: Path, block: str,
                                                                column: str, value: str,
                                                                where: str) -> None:
    columns = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]
    rows = [["10.0", "20.0", "1.5"], ["12.0", "30.0", "2.5"]]
    rows[1][columns.index(column)] = value
    path = tmp_path / "bad.star"
    path.write_text(f"data_{block}\n\nloop_\n" + "".join(f"_{name} #{index + 1}\n" for index, name
                                                         in enumerate(columns))
                    + "".join(" ".join(row) + "\n" for row in rows))
    with pytest.raises(BadInputError) as caught:
        read_coordinates(path)
    assert str(caught.value) == f"{path}: {where} is not a finite number"


def test_numbers_are_read_as_floats(tmp_path: Path) -> None:
    table = read_coordinates(write_star(_picks(), tmp_path / "mic_autopick.star"))
    assert table["rlnCoordinateX"].dtype == np.float64 and table["rlnCoordinateY"].tolist() == [7, 27, 47]
