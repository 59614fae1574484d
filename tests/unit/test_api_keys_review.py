"""Review of the API keys feature (unit level): each test here failed when written."""

from __future__ import annotations

from scheduler import api_keys


def test_a_presented_or_issued_keys_repr_shows_no_key_material() -> None:
    """A stray `logger.info(key)`, an f-string or a traceback's locals must not print it."""
    issued = api_keys.issue()
    presented = api_keys.presented(issued.key)
    assert presented is not None
    secret = issued.key.split("_")[2]

    shown = repr(issued) + repr(presented) + str(presented)

    for material in (
        issued.key,
        secret,
        presented.digest,
        issued.digest.hex(),
        repr(issued.digest),
    ):
        assert material not in shown
