"""Account rules that need no AWS: the password policy the sign-up form and the pool share."""

import re

PASSWORD_RULE = "at least 8 characters with at least one lowercase letter and one digit"


def password_policy(value: str) -> str:
    """The pool's policy, said in full (a weak-password answer names what is required)."""
    if not re.search(r"[a-zа-яё]", value) or not re.search(r"\d", value):
        raise ValueError(f"too weak: needs {PASSWORD_RULE}")
    return value
