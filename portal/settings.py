"""Wharf settings: everything comes from the environment, with working local defaults.

The embedded default keeps all state in DATA_DIR (SQLite, blobs, signing keys, broker files); setting
DATABASE_URL, REDIS_URL/CELERY_BROKER_URL and the storage variables moves each part out to a server, and
SECRET_KEY and WHARF_TOKEN_KEY give every node the same keys (README, "Scaled out").
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from portal.env import env_bool, env_int, env_list, env_str, write_once

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env_str("SECRET_KEY") or write_once(
    DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50).encode()
).decode()
DEBUG = env_bool("DEBUG", False)
# The portal's address as people reach it. Links in mail (password reset, invitations) are built from it,
# never from the request's Host, which whoever sends the request chooses. The default suits `make run`.
WHARF_SITE_URL = env_str("WHARF_SITE_URL", f"http://127.0.0.1:{env_str('PORT', '8000')}").rstrip("/")
_site = urlsplit(WHARF_SITE_URL)
# The names the portal and the registry answer to: the site's, and loopback for `make run` and local checks.
# Registry clients that reach Wharf by other names (an internal name, a load balancer's) need them listed.
_site_host = f"[{_site.hostname}]" if ":" in (_site.hostname or "") else _site.hostname or "127.0.0.1"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", list(dict.fromkeys([_site_host, "127.0.0.1", "localhost", "[::1]"])))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_site.scheme}://{_site.netloc}"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "social_django",
    "portal.accounts",
    "portal.repositories",
    "portal.audit",
    "portal.api",
    "portal.web",
    "registry_api",
    "scanning",
    "builds",
    "notifications",
]

MIDDLEWARE = [
    "portal.timing.server_timing",   # first: its Server-Timing header covers the whole stack
    "portal.security.security_headers",   # CSP and the other headers on every answer, errors included
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A failed GitHub sign-in (denied, bad state) becomes a message on the login page, not a 500.
    "social_django.middleware.SocialAuthExceptionMiddleware",
    # A full disk answers 507 in the API's JSON envelope or as a page, not as a 500 (portal/diskfull.py).
    "portal.diskfull.DiskFullMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "social_django.context_processors.backends",
                "portal.web.context.inbox",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'wharf.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so that two
    # writers queue on busy_timeout instead of failing with "database is locked" half-way. A checkpoint
    # fsyncs the database: the Celery beat job does it every 30 s, off the request path (measured: the
    # default checkpoint every 1,000 pages made one concurrent push in three stall for tens of ms); the
    # automatic one stays as a backstop at 64 MiB of log. A writer waits at most 5 s for the lock; then the
    # request answers 503 with Retry-After (portal/failures.py) instead of holding a thread for longer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 5,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=16384;",
    }

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "portal.accounts.github.GithubOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
# Cookies: no script reads them (the API docs take the CSRF token from their page), they go along on links
# from other sites but not on their forms, and portal/security.py marks them Secure behind TLS.
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# Sign-up is open unless WHARF_SIGNUP is "invite": then only an invitation link (from an admin) works.
WHARF_SIGNUP = env_str("WHARF_SIGNUP", "open")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "wharf@localhost")

# Sessions are rows in the database (Django's default engine), so any node serves any signed-in user. Wharf
# itself caches nothing through Django's cache; whatever does (an installed app) shares Redis when REDIS_URL is
# set, instead of one memory cache per process, which nodes would not share.
if _redis_url := env_str("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url,
                          "KEY_PREFIX": "wharf"}}

# --- GitHub login (social-auth) -------------------------------------------------------------------------
SOCIAL_AUTH_GITHUB_KEY = env_str("GITHUB_CLIENT_ID", "")
SOCIAL_AUTH_GITHUB_SECRET = env_str("GITHUB_CLIENT_SECRET", "")
SOCIAL_AUTH_GITHUB_SCOPE = ["read:user", "user:email"]
# The web and API addresses of GitHub; point them at a GitHub Enterprise server (or a test double).
WHARF_GITHUB_URL = env_str("WHARF_GITHUB_URL", "https://github.com").rstrip("/")
WHARF_GITHUB_API_URL = env_str("WHARF_GITHUB_API_URL", "https://api.github.com").rstrip("/")
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_LOGIN_ERROR_URL = "/login/"
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "portal.accounts.github.pick_username",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
    "social_core.pipeline.user.user_details",
    "portal.accounts.github.record_login",
)
SOCIAL_AUTH_PROTECTED_USER_FIELDS = ["username", "email"]

# --- REST API -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerTokenAuthentication",
        "portal.api.authentication.BasicCredentialAuthentication",
        "portal.api.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'   # as static/wharf.css
MONO_FONTS = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
SPECTACULAR_SETTINGS = {
    "TITLE": "Wharf API",
    "DESCRIPTION": "Repositories, organizations, teams, permissions, robot accounts, API tokens and audit logs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docs load nothing from outside Wharf (portal/api/docs.py): no validator badge from validator.swagger.io,
    # and Redoc's theme in the system's fonts instead of Google's.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {"theme": {"typography": {
        "fontFamily": SYSTEM_FONTS, "headings": {"fontFamily": SYSTEM_FONTS}, "code": {"fontFamily": MONO_FONTS}}}},
    # Repository roles and team roles share the field name "role": name their enums.
    "ENUM_NAME_OVERRIDES": {"RepositoryRoleEnum": "portal.api.serializers.ROLES",
                            "TeamRoleEnum": "portal.api.serializers.TEAM_ROLES",
                            "TriggerKindEnum": "portal.api.build_serializers.TRIGGER_KINDS"},
}

# --- Abuse limits ---------------------------------------------------------------------------------------
# Failed sign-ins (web, API, registry token endpoint) in a window: per client address, per client address and
# account name, and per account name as a backstop that refuses only clients that have failed on it
# (portal/throttle.py says why); robot and API tokens are counted per client only, and a right one always works.
WHARF_FAILED_LOGIN_WINDOW = env_int("WHARF_FAILED_LOGIN_WINDOW", 300)
# How many reverse proxies stand in front of Wharf and append to X-Forwarded-For (0: clients connect directly).
# Abuse limits and the audit log then take the client's address from that header instead of the proxy's.
WHARF_TRUSTED_PROXIES = env_int("WHARF_TRUSTED_PROXIES", 0)
# Behind those proxies (and only then: anyone can send the header) X-Forwarded-Proto says whether the client
# used TLS; request.is_secure() follows it, and so do the commands the pages show and the token realm's scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if WHARF_TRUSTED_PROXIES > 0 else None
WHARF_FAILED_LOGINS_PER_ACCOUNT = env_int("WHARF_FAILED_LOGINS_PER_ACCOUNT", 10)
WHARF_FAILED_LOGINS_PER_CLIENT = env_int("WHARF_FAILED_LOGINS_PER_CLIENT", 30)
WHARF_FAILED_LOGINS_ACCOUNT_BACKSTOP = env_int("WHARF_FAILED_LOGINS_ACCOUNT_BACKSTOP", 300)
# Pull entries of the audit log are written in batches this often (0: each at once, as every other kind is).
WHARF_AUDIT_FLUSH_SECONDS = float(env_str("WHARF_AUDIT_FLUSH_SECONDS", "1"))
# `Server-Timing: app;dur=…` on pages and API answers (portal/timing.py); `make bench` turns it on.
WHARF_SERVER_TIMING = env_bool("WHARF_SERVER_TIMING", False)
# How long a registry refresh token (docker's offline_token) stays valid.
WHARF_REFRESH_TOKEN_TTL = env_int("WHARF_REFRESH_TOKEN_TTL", 30 * 24 * 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"

# --- Registry -------------------------------------------------------------------------------------------
WHARF_STORAGE = {
    "BACKEND": env_str("WHARF_STORAGE_BACKEND", "filesystem"),   # filesystem, s3 or memory
    "PATH": env_str("WHARF_STORAGE_PATH", str(DATA_DIR / "storage")),
    # The s3 backend; credentials come from the standard AWS chain (environment, profile, instance role).
    "ENDPOINT_URL": env_str("WHARF_S3_ENDPOINT_URL", ""),          # empty: AWS itself
    "REGION": env_str("WHARF_S3_REGION", ""),
    "BUCKET": env_str("WHARF_S3_BUCKET", ""),
    "PREFIX": env_str("WHARF_S3_PREFIX", ""),
    "ADDRESSING_STYLE": env_str("WHARF_S3_ADDRESSING_STYLE", "auto"),   # auto, path or virtual
    # Blob GETs answer 307 to a presigned URL of this lifetime; off, Wharf streams the bytes itself.
    "REDIRECT": env_bool("WHARF_S3_REDIRECT", True),
    "REDIRECT_SECONDS": env_int("WHARF_S3_REDIRECT_SECONDS", 300),
}
# The token service's name (the JWT audience) and how long a registry token lives.
WHARF_REGISTRY_SERVICE = env_str("WHARF_REGISTRY_SERVICE", "wharf")
WHARF_TOKEN_TTL = env_int("WHARF_TOKEN_TTL", 300)
# The RSA key that signs registry tokens: a PEM in WHARF_TOKEN_KEY (the same on every node when scaled out), or
# the file at WHARF_TOKEN_KEY_PATH, generated there on first use (the embedded default). During a rotation the
# previous key (its PEM, private or public half, or a file) still verifies the tokens it signed.
WHARF_TOKEN_KEY = env_str("WHARF_TOKEN_KEY")
WHARF_TOKEN_KEY_PATH = Path(env_str("WHARF_TOKEN_KEY_PATH", str(DATA_DIR / "keys" / "token-signing.pem")))
WHARF_TOKEN_PREVIOUS_KEY = env_str("WHARF_TOKEN_PREVIOUS_KEY")
WHARF_TOKEN_PREVIOUS_KEY_PATH = env_str("WHARF_TOKEN_PREVIOUS_KEY_PATH")
WHARF_MAX_MANIFEST_BYTES = env_int("WHARF_MAX_MANIFEST_BYTES", 4 * 1024 * 1024)
# A changed security policy (blocked pulls) applies in every process within this many seconds.
WHARF_SCAN_POLICY_CACHE_SECONDS = float(env_str("WHARF_SCAN_POLICY_CACHE_SECONDS", "5"))
# An index lists at most this many manifests, and indexes nest at most this deep (an index of images is 1).
WHARF_MAX_INDEX_ENTRIES = env_int("WHARF_MAX_INDEX_ENTRIES", 1000)
WHARF_MAX_INDEX_DEPTH = env_int("WHARF_MAX_INDEX_DEPTH", 4)
# Foreign layer URLs (never fetched by Wharf, but handed to clients) must match this regular expression whole,
# e.g. "https://mcr\.microsoft\.com/.*"; empty (the default) refuses every manifest that carries them.
WHARF_FOREIGN_URLS_ALLOW = env_str("WHARF_FOREIGN_URLS_ALLOW", "")
WHARF_UPLOAD_EXPIRY_SECONDS = env_int("WHARF_UPLOAD_EXPIRY_SECONDS", 24 * 3600)
# Upload sessions one principal (user, robot) may hold open at once; one more is refused with 429.
WHARF_MAX_OPEN_UPLOADS = env_int("WHARF_MAX_OPEN_UPLOADS", 100)
# The largest blob accepted: a larger declared length is refused with 413 before its body is read.
WHARF_MAX_BLOB_BYTES = env_int("WHARF_MAX_BLOB_BYTES", 20 << 30)
WHARF_TAGS_PAGE_MAX = env_int("WHARF_TAGS_PAGE_MAX", 10_000)
# How long tag moves and deletions stay in a tag's history (and can be restored from).
WHARF_TAG_HISTORY_DAYS = env_int("WHARF_TAG_HISTORY_DAYS", 14)
# Garbage collection removes only what has been unreferenced (or uploaded without a manifest) this long.
WHARF_GC_GRACE_SECONDS = env_int("WHARF_GC_GRACE_SECONDS", 3600)

# --- Celery ---------------------------------------------------------------------------------------------
# The embedded broker's folder: every process of one Wharf (web, workers, beat) must name the same one.
_broker_dir = Path(env_str("WHARF_BROKER_DIR", str(DATA_DIR / "broker"))).resolve()
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or env_str("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # No server to install for the embedded default: the broker is a folder under DATA_DIR.
    for sub in ("out", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, made safe on a full disk (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # How often an idle worker looks in its queue folders (kombu's default is once a second): a build or
        # scan sent by a request starts within 0.2 s, for five directory listings a second per worker.
        "polling_interval": 0.2,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"   # the queues are default, builds and scans
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "purge-stale-uploads": {"task": "registry_api.tasks.purge_stale_uploads", "schedule": 3600.0},
    "checkpoint-sqlite": {"task": "registry_api.tasks.checkpoint_sqlite", "schedule": 30.0},
    "expire-tags": {"task": "portal.repositories.tasks.expire_tags", "schedule": 60.0},
    "prune-tag-history": {"task": "registry_api.tasks.prune_tag_history", "schedule": 3600.0},
    "collect-garbage": {"task": "registry_api.tasks.collect_garbage", "schedule": 3600.0},
    "reap-builds": {"task": "builds.tasks.reap_builds", "schedule": 30.0},
    "requeue-stuck-scans": {"task": "scanning.tasks.requeue_stuck_scans", "schedule": 300.0},
    "send-due-notifications": {"task": "notifications.tasks.send_due", "schedule": 30.0},
    "announce-expiring-tags": {"task": "notifications.tasks.announce_expiring_tags", "schedule": 600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_ROUTES = {"builds.tasks.run_build": {"queue": "builds"},
                      "scanning.tasks.scan_manifest": {"queue": "scans"},
                      "scanning.tasks.import_advisories": {"queue": "scans"},
                      "notifications.tasks.deliver": {"queue": "default"},
                      "notifications.tasks.fan_out": {"queue": "default"}}

# --- Builds -----------------------------------------------------------------------------------------------
# Where a build's work happens on a worker: clones and contexts (deleted after each build) and one podman
# storage per repository (its layer cache, reused by the next build of the same repository).
WHARF_BUILD_DIR = Path(env_str("WHARF_BUILD_DIR", str(DATA_DIR / "builds"))).resolve()
WHARF_BUILD_TIME_LIMIT = env_int("WHARF_BUILD_TIME_LIMIT", 3600)          # seconds, a whole build
WHARF_BUILD_MEMORY_LIMIT = env_int("WHARF_BUILD_MEMORY_LIMIT", 4096)      # MiB, where cgroups allow it
WHARF_BUILD_PIDS_LIMIT = env_int("WHARF_BUILD_PIDS_LIMIT", 1024)          # processes, where cgroups allow it
WHARF_BUILD_FILE_SIZE_LIMIT = env_int("WHARF_BUILD_FILE_SIZE_LIMIT", 10240)   # MiB: no file a build writes is larger
WHARF_BUILD_MIN_FREE = env_int("WHARF_BUILD_MIN_FREE", 1024)   # MiB left on the build disk, or the build stops
WHARF_BUILD_LOG_LIMIT = env_int("WHARF_BUILD_LOG_LIMIT", 10 * 1024 * 1024)   # bytes of log kept per build
WHARF_BUILD_CONTEXT_LIMIT = env_int("WHARF_BUILD_CONTEXT_LIMIT", 100 * 1024 * 1024)   # an uploaded archive
WHARF_BUILD_CONTEXT_UNPACKED_LIMIT = env_int("WHARF_BUILD_CONTEXT_UNPACKED_LIMIT", 1024 * 1024 * 1024)
WHARF_BUILD_QUEUE_LIMIT = env_int("WHARF_BUILD_QUEUE_LIMIT", 20)   # queued builds per namespace, then 429
WHARF_BUILD_FAILURES_TO_DISABLE = env_int("WHARF_BUILD_FAILURES_TO_DISABLE", 5)   # a trigger's, in a row
# A running build's worker writes a heartbeat every few seconds; one silent this long has lost its worker.
WHARF_BUILD_HEARTBEAT_TIMEOUT = env_int("WHARF_BUILD_HEARTBEAT_TIMEOUT", 60)
WHARF_BUILD_ATTEMPTS = env_int("WHARF_BUILD_ATTEMPTS", 2)   # a build whose worker died is retried once
# How workers reach the registry to push (default: the site's own address). http:// pushes without TLS.
WHARF_BUILD_REGISTRY_URL = env_str("WHARF_BUILD_REGISTRY_URL", "").rstrip("/")
# podman's isolation for RUN steps: "" detects (oci, or chroot on hosts whose cgroups crun cannot use).
WHARF_BUILD_ISOLATION = env_str("WHARF_BUILD_ISOLATION", "")
WHARF_BUILD_STORAGE_DRIVER = env_str("WHARF_BUILD_STORAGE_DRIVER", "vfs")
# file:// clone URLs read the worker's own disk: only the tests' stand-in git repositories use them.
WHARF_BUILD_ALLOW_FILE_URLS = env_bool("WHARF_BUILD_ALLOW_FILE_URLS", False)

# --- Scanning ---------------------------------------------------------------------------------------------
# Bounds on reading a layer someone pushed (uncompressed bytes, tar entries, one package database's bytes).
WHARF_SCAN_MAX_LAYER_SIZE = env_int("WHARF_SCAN_MAX_LAYER_SIZE", 8 << 30)
WHARF_SCAN_MAX_ENTRIES = env_int("WHARF_SCAN_MAX_ENTRIES", 1_000_000)
WHARF_SCAN_MAX_FILE_SIZE = env_int("WHARF_SCAN_MAX_FILE_SIZE", 128 << 20)
WHARF_SCAN_TIME_LIMIT = env_int("WHARF_SCAN_TIME_LIMIT", 1800)   # seconds, one manifest's scan
# Scans queued or running this long (a lost message, a dead worker; longer than a scan may run) are sent again.
WHARF_SCAN_STUCK_SECONDS = env_int("WHARF_SCAN_STUCK_SECONDS", WHARF_SCAN_TIME_LIMIT + 300)
# A finding that an advisory import makes new on a scanned image, at or above this, sends vulnerability_found.
WHARF_SCAN_ALERT_SEVERITY = env_str("WHARF_SCAN_ALERT_SEVERITY", "high")
# Who scans: the built-in indexer and OSV matcher, or a Clair v4 server (scanning/clair.py) at WHARF_CLAIR_URL,
# whose PSK (base64, as in Clair's auth.psk.key; issuer "wharf") signs the requests' JWTs.
WHARF_SCAN_BACKEND = env_str("WHARF_SCAN_BACKEND", "builtin")
WHARF_CLAIR_URL = env_str("WHARF_CLAIR_URL", "http://127.0.0.1:6060").rstrip("/")
WHARF_CLAIR_PSK = env_str("WHARF_CLAIR_PSK")

# --- Notifications ----------------------------------------------------------------------------------------
WHARF_NOTIFY_TIMEOUT = env_int("WHARF_NOTIFY_TIMEOUT", 10)   # seconds, one attempt (connect to last byte read)
WHARF_NOTIFY_ATTEMPTS = env_int("WHARF_NOTIFY_ATTEMPTS", 10)   # per delivery, over about a day (delivery.BACKOFF)
# A notification whose deliveries failed for good this many times in a row is disabled, saying why.
WHARF_NOTIFY_FAILURES_TO_DISABLE = env_int("WHARF_NOTIFY_FAILURES_TO_DISABLE", 10)
# Webhook and Slack URLs resolving to loopback, link-local, private or reserved addresses are refused (server-side
# request forgery) unless this is on: only for a deployment whose receivers live on its own network.
WHARF_NOTIFY_ALLOW_PRIVATE = env_bool("WHARF_NOTIFY_ALLOW_PRIVATE", False)
# How long a process trusts its answer to "has this repository any notification" (notifications.later).
WHARF_NOTIFY_CACHE_SECONDS = env_int("WHARF_NOTIFY_CACHE_SECONDS", 5)
WHARF_NOTIFY_FANOUT_INLINE = env_bool("WHARF_NOTIFY_FANOUT_INLINE", False)   # tests: fan out in the caller
WHARF_NOTIFY_EXPIRY_DAYS = env_int("WHARF_NOTIFY_EXPIRY_DAYS", 3)   # tag_expiring goes out this long before

# --- Operations -----------------------------------------------------------------------------------------
# How long each of /readyz's checks (database, broker, storage) may take before it counts as failed.
WHARF_READY_TIMEOUT = float(env_str("WHARF_READY_TIMEOUT", "2"))
# /readyz answers without authentication: within this many seconds of a probe, a process answers with that
# probe's results instead of opening a connection and writing to storage again (a flood costs one probe a second).
WHARF_READY_CACHE_SECONDS = float(env_str("WHARF_READY_CACHE_SECONDS", "1"))
# Set: /metrics answers only `Authorization: Bearer <this>`. Unset: /metrics is open (like /healthz).
WHARF_METRICS_TOKEN = env_str("WHARF_METRICS_TOKEN", "")
# "json": every log line is one JSON object (portal/logs.py); anything else: plain text lines.
WHARF_LOG_FORMAT = env_str("WHARF_LOG_FORMAT", "text").strip().lower()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler",
                             **({"formatter": "json"} if WHARF_LOG_FORMAT == "json" else {})}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
