"""One environment-driven settings module.

Every variable is documented in ``.env.example``. Development defaults apply only while
``DEBUG`` is on; a production process (``DEBUG=false``) refuses to start without a real
``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A throwaway key is acceptable only for local development. It is deliberately long and random
# looking so `check --deploy` on a DEBUG instance says nothing misleading about its shape.
_DEV_SECRET_KEY = "dev-only-insecure-key-8c1f0d4e2b7a49e6a3d5c9f1b0e7d2a6c4f8e1b3d5a7c9e0f2b4d6a8c0e2f4"
# Development Fernet key (urlsafe base64 of 32 bytes); never valid in production.
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LTAxMjM0NTY3ODlhYmM="


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when DEBUG is off; see .env.example."
    )


SECRET_KEY = _required_in_production("SECRET_KEY", _DEV_SECRET_KEY)
FIELD_ENCRYPTION_KEYS: list[str] = [
    k.strip()
    for k in _required_in_production("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEY).split(",")
    if k.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "integration.console.admin_app.ServiceAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "simple_history",
    "axes",
    "accounts",
    "mappings",
    "integration.core",
    "integration.transfers",
    "integration.triggers",
    "integration.books",
    "integration.console",
    "sandbox",
    "sandbox.dinero",
    "sandbox.rackbeat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.nul_guard.RejectNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# Rackbeat's webhook deliveries (/webhooks/) are served with only these (config.lean_wsgi): no
# session, user, language, CSRF or page framing applies to a machine posting JSON.
WEBHOOK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.nul_guard.RejectNulCharacters",
]

ROOT_URLCONF = "config.urls"

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
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The ORM broker and the web process share one file. WAL lets readers work beside the one
    # writer; IMMEDIATE transactions take the write lock at BEGIN, where the busy timeout waits for
    # it, instead of failing with "database is locked" when a read transaction later writes.
    _sqlite = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite.setdefault("timeout", 30)
    _sqlite.setdefault("transaction_mode", "IMMEDIATE")
    _sqlite.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# The statements every document runs (the engine's claim, reads and writes, the webhook intake's
# one statement) are prepared once per database connection on PostgreSQL. Turn off behind a
# connection pooler that cannot keep prepared statements (PgBouncer in transaction mode before
# 1.21). INTAKE_PREPARED_STATEMENTS is the earlier name, still read.
PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=env.bool("INTAKE_PREPARED_STATEMENTS", default=True))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("da", "Dansk"), ("sv", "Svenska")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]  # one date format per language
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Copenhagen")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://"),
    # Shared by every process and host: Dinero tokens (one per organization, not one per worker)
    # and documents read once for a follow-up. The table is created by the integration app's
    # migrations (``createcachetable``), so ``migrate`` is the only step a deploy needs.
    "shared": env.cache("SHARED_CACHE_URL", default="dbcache://integration_shared_cache"),
}
# Room for a token per organization and the documents of a large burst (300 is Django's default,
# past which it evicts a third of the entries — tokens included).
CACHES["shared"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 20_000)

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="integration@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- The two APIs -----------------------------------------------------------------------------
RACKBEAT_API_URL = env.str("RACKBEAT_API_URL", default="https://app.rackbeat.com/api/")
RACKBEAT_APP_URL = env.str("RACKBEAT_APP_URL", default="https://app.rackbeat.com/")
RACKBEAT_RATE_LIMIT_PER_MINUTE = env.int("RACKBEAT_RATE_LIMIT_PER_MINUTE", default=480)
RACKBEAT_CONSUMER_NAME = env.str("RACKBEAT_CONSUMER_NAME", default="Rackbeat-Dinero integration")
RACKBEAT_CONSUMER_CONTACT = env.str("RACKBEAT_CONSUMER_CONTACT", default=DEFAULT_FROM_EMAIL)

DINERO_API_URL = env.str("DINERO_API_URL", default="https://api.dinero.dk")
DINERO_APP_URL = env.str("DINERO_APP_URL", default="https://app.dinero.dk/")
DINERO_TOKEN_URL = env.str("DINERO_TOKEN_URL", default="https://authz.dinero.dk/dineroapi/oauth/token")
DINERO_CLIENT_ID = env.str("DINERO_CLIENT_ID", default="")
DINERO_CLIENT_SECRET = env.str("DINERO_CLIENT_SECRET", default="")
DINERO_RATE_LIMIT_PER_MINUTE = env.int("DINERO_RATE_LIMIT_PER_MINUTE", default=100)
# Both budgets count any sliding 60 seconds plus this margin (hosts' clocks; travel time needs none:
# requests are counted until their answer arrives).
RATE_LIMIT_SAFETY_SECONDS = env.float("RATE_LIMIT_SAFETY_SECONDS", default=1.0)
# A request waits at most this long for room in its budget; longer, the operation is put back
# with its due time and the worker takes other work.
RATE_LIMIT_MAX_BLOCK_SECONDS = env.float("RATE_LIMIT_MAX_BLOCK_SECONDS", default=1.0)
VISMA_CONNECT_AUTHORIZE_URL = env.str(
    "VISMA_CONNECT_AUTHORIZE_URL", default="https://connect.visma.com/connect/authorize"
)
VISMA_CONNECT_TOKEN_URL = env.str("VISMA_CONNECT_TOKEN_URL", default="https://connect.visma.com/connect/token")
VISMA_CONNECT_CLIENT_ID = env.str("VISMA_CONNECT_CLIENT_ID", default="")
VISMA_CONNECT_CLIENT_SECRET = env.str("VISMA_CONNECT_CLIENT_SECRET", default="")
HTTP_TIMEOUT_SECONDS = env.float("HTTP_TIMEOUT_SECONDS", default=30.0)

# Public base URL of this service, used for webhook and OAuth redirect URLs.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# --- Sandbox (emulators of both APIs) ---------------------------------------------------------
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
if SANDBOX_ENABLED and not DEBUG and not env.bool("SANDBOX_ALLOW_WITHOUT_DEBUG", default=False):
    raise ImproperlyConfigured(
        "SANDBOX_ENABLED is on while DEBUG is off. The sandbox emulates Rackbeat and Dinero and "
        "must never run in production."
    )
# The emulated Dinero counts its 100 requests/minute per calendar minute; with this on it counts
# any sliding 60 seconds instead, the stricter reading (benchmarks prove 0 × 429 against it).
SANDBOX_DINERO_SLIDING_MINUTE = env.bool("SANDBOX_DINERO_SLIDING_MINUTE", default=False)

# --- Operations ---------------------------------------------------------------------------------
POLL_INTERVAL_MINUTES = env.int("POLL_INTERVAL_MINUTES", default=10)
POLL_OVERLAP_MINUTES = env.int("POLL_OVERLAP_MINUTES", default=5)
# A connection's poll still marked running this long after it started was interrupted: the next
# poll marks it failed and runs. Until then the connection's next polls are skipped.
POLL_STALE_MINUTES = env.int("POLL_STALE_MINUTES", default=10)
EXCHANGE_RETENTION_DAYS = env.int("EXCHANGE_RETENTION_DAYS", default=90)
# Stored webhook deliveries (evidence of what Rackbeat sent) are deleted after this many days.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
# Polls that queued nothing are deleted after this many days (docs/operations.md, "Fleet sizing").
POLL_RUN_RETENTION_DAYS = env.int("POLL_RUN_RETENTION_DAYS", default=7)
STALE_CLAIM_MINUTES = env.int("STALE_CLAIM_MINUTES", default=15)
# The start sync works in slices of this many seconds (plus the time to read the lists), each its
# own task, well inside Q_TIMEOUT.
START_SYNC_SLICE_SECONDS = env.int("START_SYNC_SLICE_SECONDS", default=180)
# A reconciliation reads for this many seconds per task, then keeps what it read and continues in
# the next task, so a period of any size stays inside the reconciliation task's timeout (840 s).
RECONCILIATION_SLICE_SECONDS = env.int("RECONCILIATION_SLICE_SECONDS", default=600)
# Each worker process beats this often; a claim whose worker has not beaten for
# WORKER_DEAD_AFTER_SECONDS (or whose process is gone, on the same host) is given back.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)
WORKER_DEAD_AFTER_SECONDS = env.float("WORKER_DEAD_AFTER_SECONDS", default=45.0)
MAX_TRANSIENT_ATTEMPTS = env.int("MAX_TRANSIENT_ATTEMPTS", default=8)

# --- django-q2 ----------------------------------------------------------------------------------
# ORM broker on the default database: enqueueing inside a transaction commits with it.
# `retry` stays well above `timeout` so a running task is never handed to a second worker;
# business retries live on SyncOperation rows, not in the broker.
Q_CLUSTER = {
    "name": "integration",
    "orm": "default",
    # Transfers mostly wait on HTTP: several processes per core pay off (docs/engine.md, "Workers").
    "workers": env.int("Q_WORKERS", default=4),
    # Fetch at most one task ahead per worker: fewer tasks stranded in a process that dies, and a
    # quick stop.
    "queue_limit": env.int("Q_WORKERS", default=4),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=900),
    "ack_failures": True,
    "max_attempts": 1,
    "catch_up": False,
    # django-q2 keeps no record of tasks that succeeded (-1): a task only runs an operation, whose
    # row and timeline are the record. With a positive limit every finished task would read and
    # lock up to that many stored results to prune one (a third of a burst's database work).
    # Failed tasks are kept either way.
    "save_limit": env.int("Q_SAVE_LIMIT", default=-1),
    "time_zone": TIME_ZONE,
    "poll": 0.2,
    # The ORM broker, each poll and each finished task one prepared statement
    # (integration.core.queue_broker): the pusher polls five times a second, idle or not.
    "broker_class": "integration.core.queue_broker.LeanORM",
    "label": "Task queue",
    "sync": env.bool("Q_SYNC", default=False),
}
# `qcluster` stops gracefully on SIGTERM/SIGINT, but never takes longer than this: what is still
# running then is killed and recovered (integration.core.worker_health).
Q_STOP_SECONDS = env.float("Q_STOP_SECONDS", default=10.0)
# Long reports (reconciliations, start sync slices) running at once in the whole installation, one
# per connection at most; 0 means a quarter of the workers (at least one). The others keep
# transferring. A report that finds no free slot goes back to the queue for this long.
REPORT_SLOTS = env.int("REPORT_SLOTS", default=0)
REPORT_SLOT_WAIT_SECONDS = env.float("REPORT_SLOT_WAIT_SECONDS", default=5.0)
# The posting preview spends dozens of requests of the organization's budget: the same preview with
# the same mappings is served from the shared cache this long, and a connection makes a fresh one
# at most this often.
POSTING_PREVIEW_CACHE_SECONDS = env.float("POSTING_PREVIEW_CACHE_SECONDS", default=600.0)
POSTING_PREVIEW_INTERVAL_SECONDS = env.float("POSTING_PREVIEW_INTERVAL_SECONDS", default=60.0)

# --- Security (production) --------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# Login throttling (django-axes; docs/security.md): after LOGIN_FAILURE_LIMIT wrong passwords for
# one username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (the lockout
# is listed and cleared in the admin under "Axes"). Locking the username alone would let anyone
# lock a colleague out; the address alone would lock a whole office behind one NAT.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged as warnings
AXES_LOCKOUT_CALLABLE = "accounts.login_lockout.lockout_page"
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
# How many proxies in front of the service append to X-Forwarded-For (0: trust only REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy (django-csp) for every page: scripts only from our static files or
# with the response's nonce; inline style attributes stay allowed (the admin's widgets and the
# state badges use them, and styles cannot run code). The Visma Connect login is a redirect, not
# a form post, so form-action stays 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": [env.str("CSP_REPORT_URI")]} if env.str("CSP_REPORT_URI", default="") else {}),
    },
}

LOGIN_URL = "admin:login"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
