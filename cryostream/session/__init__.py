"""The session layer between the front doors (CLI, watcher, RELION and CryoSPARC jobs) and the core.

One place for what a picking session is: which files are exposures (:mod:`.selection`), where their
outputs go (:mod:`.naming`), the journal (:mod:`.journal`), what happens on an output folder
picked with other parameters (:mod:`.policy`), writing and recording each micrograph
(:mod:`.engine`, :mod:`.outputs`), cancellation (:mod:`.cancel`) and the one error boundary
(:mod:`.errors`). It imports the core, never a front door.
"""
