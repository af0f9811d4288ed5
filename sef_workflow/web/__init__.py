"""The web application: coordinators' pages, the agency portal, manager pages and a JSON API.

Public functions: :func:`create_app`, :func:`set_password`, :func:`create_login_link` and
(in :mod:`sef_workflow.web.serve`) :func:`~sef_workflow.web.serve.serve`.
"""

from __future__ import annotations

from ..access import login_url
from .app import create_app
from .auth import create_login_link, set_password

__all__ = ["create_app", "create_login_link", "login_url", "set_password"]
