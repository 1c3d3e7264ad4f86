"""Imported only inside a local pool's fork server (``set_forkserver_preload``), never by the
parent: it loads what every worker needs once (each forked worker starts warm), and makes the
fork server itself die with the parent, so that its workers, which die with it, leave nothing
behind after ``kill -9``. The fork server ignores SIGINT and SIGTERM like the workers: the
parent decides when everything stops."""

from .executor import die_with_parent, ignore_stop_signals
from .work import pick_file  # noqa: F401  (imported for its imports: numpy, OpenCV, the picker)

ignore_stop_signals()
die_with_parent()
