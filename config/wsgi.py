"""The WSGI application gunicorn serves: ``config.wsgi:application``.

Webhook deliveries go through a lean middleware stack, every other request through the full one
(see :mod:`config.lean_wsgi`).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_full = get_wsgi_application()  # sets Django up

from config.lean_wsgi import LeanWSGIHandler, PathDispatch  # noqa: E402

application = PathDispatch(_full, LeanWSGIHandler())
