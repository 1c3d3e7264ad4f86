"""Configuration on an existing output: abort (naming each change), keep or redo, remembered."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from cryostream.config import preset
from cryostream.session.errors import UsageError
from cryostream.session.journal import Journal
from cryostream.session.policy import apply_config_policy


def test_parameter_change_aborts_keeps_or_redoes(tmp_path: Path) -> None:
    old, new = preset("default", diameter_angstrom=60.0), preset("default", diameter_angstrom=90.0)
    with Journal(tmp_path) as journal:
        assert apply_config_policy(journal, old, "abort") == 0
        journal.mark_queued("a.mrc", "a.mrc", None, old.digest())
        journal.mark_done("a.mrc", 2, 1.0, 0.1, "a.star", old.digest())
        with pytest.raises(UsageError, match="diameter_angstrom: 60.0 -> 90.0.*keep"):
            apply_config_policy(journal, new, "abort")
        assert apply_config_policy(journal, new, "keep") == 0
        assert apply_config_policy(journal, new, "abort") == 0  # the choice is remembered
        assert journal.entry("a.mrc").status == "done"
        third = preset("default", diameter_angstrom=120.0)
        assert apply_config_policy(journal, third, "redo") == 1
        assert journal.entry("a.mrc").status == "queued"
        with pytest.raises(UsageError, match="must be one of"):
            apply_config_policy(journal, old, "sometimes")


def test_many_changes_are_listed_briefly_and_an_unrecorded_one_by_digest(tmp_path: Path) -> None:
    old = preset("default", diameter_angstrom=60.0)
    with Journal(tmp_path) as journal:
        apply_config_policy(journal, old, "abort")
        with pytest.raises(UsageError, match=r"; and \d+ more\)"):
            apply_config_policy(journal, preset("seed", diameter_angstrom=60.0), "abort")
        journal.set_setting("config_digest", "0123456789abcdef")
        with pytest.raises(UsageError, match="configuration digest 0123456789abcdef, now"):
            apply_config_policy(journal, old, "abort")


@pytest.mark.parametrize("choice", ["abort", "redo"])
def test_parameters_recorded_before_a_setting_was_added_are_no_change(tmp_path: Path,
                                                                       choice: str) -> None:
    """An earlier version recorded the same parameters without a setting added since (its
    default keeps them): another digest, but nothing to refuse or redo."""
    config = preset("default", diameter_angstrom=60.0)
    earlier = {key: value for key, value in asdict(config).items() if key != "diameter_measured"}
    with Journal(tmp_path) as journal:
        journal.set_setting("config:0123456789abcdef", json.dumps(earlier))
        journal.set_setting("config_digest", "0123456789abcdef")
        journal.mark_queued("a.mrc", "a.mrc", None, "0123456789abcdef")
        journal.mark_done("a.mrc", 2, 1.0, 0.1, "a.star", "0123456789abcdef")
        assert apply_config_policy(journal, config, choice) == 0
        assert journal.entry("a.mrc").status == "done"
        assert journal.get_setting("config_digest") == config.digest()
        with pytest.raises(UsageError, match="diameter_angstrom: 60.0 -> 90.0"):
            apply_config_policy(journal, preset("default", diameter_angstrom=90.0), "abort")
