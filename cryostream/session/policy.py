"""What happens when an output folder was picked with other parameters: the same for every front
door. ``abort`` (the default) refuses and lists each parameter that differs, old and new value;
``keep`` leaves the earlier picks and picks what is new with the new parameters; ``redo`` picks
everything again. Never a silent mix."""

from __future__ import annotations

from ..config import PickerConfig, config_differences
from .errors import UsageError
from .journal import Journal

CHOICES = ("abort", "keep", "redo")
CURRENT_DIGEST = "config_digest"
DIAMETER_MODE = "diameter_mode"
SHOWN_DIFFERENCES = 6


def check_choice(choice: str) -> str:
    """Refuse an unknown policy."""
    if choice not in CHOICES:
        raise UsageError(f"--on-config-change must be one of {', '.join(CHOICES)}, got {choice!r}")
    return choice


def apply_config_policy(journal: Journal, config: PickerConfig, choice: str,
                        diameter_mode: str = "given", record: bool = True) -> int:
    """Compare ``config`` and how its diameter is chosen (``given``, or ``auto (MIN-MAX Å)``)
    with what the journal's folder was picked with and apply ``choice``; returns how many
    micrographs were queued again (``redo``). Raises :class:`UsageError` naming each changed
    parameter on ``abort``; parameters an earlier version recorded under another digest that
    read back as ``config`` (a setting added since, at its default) are no change. With
    ``record`` the configuration becomes the folder's (a session records it only once its first
    micrograph passed the up-front check, so a refused diameter never becomes the folder's)."""
    check_choice(choice)
    digest = config.digest()
    previous = journal.get_setting(CURRENT_DIGEST) or _last_done_digest(journal)
    previous_mode = journal.get_setting(DIAMETER_MODE) or "given"
    requeued = 0
    mode_changed = previous is not None and previous_mode != diameter_mode
    if previous is not None and (mode_changed or (previous != digest
                                                  and journal.recorded_config(previous) != config)):
        if choice == "abort":
            mode_change = f"diameter: {previous_mode} -> {diameter_mode}" if mode_changed else None
            raise UsageError(
                f"{journal.path.parent}: was picked with other parameters ("
                f"{describe_change(journal, previous, config, mode_change)}); rerun with "
                "--on-config-change "
                "keep (keep those picks, use the new parameters for new micrographs) or redo "
                "(pick every micrograph again with the new parameters)")
        if choice == "redo":
            requeued = journal.requeue_other_digests(digest)
    if record:
        record_configuration(journal, config, diameter_mode)
    return requeued


def record_configuration(journal: Journal, config: PickerConfig, diameter_mode: str) -> None:
    """Make ``config`` (and how its diameter is chosen) the one the folder is picked with."""
    journal.record_config(config)
    journal.set_setting(CURRENT_DIGEST, config.digest())
    journal.set_setting(DIAMETER_MODE, diameter_mode)


def describe_change(journal: Journal, previous_digest: str, config: PickerConfig,
                    mode_change: str | None = None) -> str:
    """``key: old -> new`` for each changed parameter (the first few), or the two digests when the
    earlier configuration was not recorded or no longer reads. ``mode_change`` (the diameter went
    from given to measured or back) replaces the diameter's own line."""
    old = journal.recorded_config(previous_digest)
    if old is None:
        return mode_change or f"configuration digest {previous_digest}, now {config.digest()}"
    changes = config_differences(old, config)
    if mode_change:
        changes = [mode_change, *(change for change in changes
                                  if not change.startswith("diameter_angstrom"))]
    more = len(changes) - SHOWN_DIFFERENCES
    return "; ".join(changes[:SHOWN_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")


def _last_done_digest(journal: Journal) -> str | None:
    done = journal.entries("done")
    return done[-1].config_digest if done else None
