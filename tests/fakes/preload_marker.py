"""Imported by the fork server for ``study_fake_preloaded``: remembers which process
imported it, so a worker can tell that it was forked from the server."""

import os

IMPORTED_IN = os.getpid()
