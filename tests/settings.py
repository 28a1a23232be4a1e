"""The suite's settings: portal.settings with the state directory moved out of the project's ./var."""

import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="wharf-test-"))

from portal.settings import *  # noqa: E402,F403

# Concurrent runs on one machine (a developer's and CI's, or parallel helpers) each get their own test
# database rather than dropping each other's.
# On SQLite (the `make run` default, with its WAL and busy-timeout options) the test database is a file in
# DATA_DIR, not Django's in-memory default: the live servers and workers of the client tests open it too.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test_wharf_{os.getpid()}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_wharf_{os.getpid()}"}  # noqa: F405

# Pull entries of the audit log are written at once in tests, so that a test can read them straight after;
# tests/auth/test_audit_batching.py covers the batched path.
WHARF_AUDIT_FLUSH_SECONDS = 0
WHARF_READY_CACHE_SECONDS = 0   # each probe in a test sees the state the test just made

# Notifications fan out in the request that caused the event, so a test reads its deliveries at once;
# tests/notifications/test_later.py runs the production path (one message to a worker).
WHARF_NOTIFY_FANOUT_INLINE = True
WHARF_NOTIFY_CACHE_SECONDS = 0
