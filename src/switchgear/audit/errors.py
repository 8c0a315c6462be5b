"""The audit package's own errors (kept apart so importing them loads no crypto)."""


class SigningKeyError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key (message is safe to show)."""
