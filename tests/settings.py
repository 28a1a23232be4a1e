"""The suite's settings: portal.settings with the state directory moved out of the project's ./var."""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="wharf-test-"))

from portal.settings import *  # noqa: E402,F403

# Concurrent runs on one machine (a developer's and CI's, or parallel helpers) each get their own test
# database rather than dropping each other's.
DATABASES["default"]["TEST"] = {"NAME": f"test_wharf_{os.getpid()}"}  # noqa: F405
