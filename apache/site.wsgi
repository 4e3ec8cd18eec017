"""mod_wsgi's entry point: the sample site's WSGI application, pages and all.

The same object the gunicorn backend serves; under mod_wsgi it serves the pages, and answers
an upgrade that should have been proxied with a 501 that names the missing proxy rule.
"""

from apps.site import application

__all__ = ["application"]
