"""The watcher: a front door that follows an acquisition folder and picks each micrograph as it
lands, over the same session as every other front door. :mod:`.discovery` finds complete files,
:mod:`.daemon` runs the loop, :mod:`.reporter` tells people."""
