"""Notifications, pure: email rendering, signed action links, action pages. No boto3 here.

- ``money_format``: integer minor units -> "1 028,00 ₽" / "RUB 1,028.00".
- ``links``: signed, expiring action-link tokens; the task token stays server-side.
- ``emails``: ``render_email(kind, lang, context)`` -> subject, HTML, text.
- ``defang``: people-written text made unlinkable (``https://evil.example`` -> ``hxxps://evil[.]example``).
- ``pages``: the GET/POST pages behind action links, their security headers, the local mailbox.
- ``context`` / ``rendering``: the validated template view and the jinja2 environment.

Templates live in ``chalicelib/templates/{email,pages,partials}``.
"""
