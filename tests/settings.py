"""The suite's settings: portal.settings with the state directory moved out of the project's ./var."""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="wharf-test-"))

from portal.settings import *  # noqa: E402,F403
