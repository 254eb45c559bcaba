"""pydantic's errors in sweepkit's words: one place for the sweep file's sections and its parameter entries."""

from __future__ import annotations

from pydantic_core import ErrorDetails, PydanticCustomError

PLAIN = "sweepkit"  # the error type of a message that is whole as written (no "(got ...)" added to it)

# pydantic's wording where it names its own classes ("a valid dictionary or instance of BudgetSpec").
_PLAIN_MESSAGES = {
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
}


def plain(message: str, at: str | None = None) -> PydanticCustomError:
    """A validator's error shown exactly as written: the value is named in it already. `at` is the key it is
    about, for a model validator that checks several."""
    context = {"message": message} if at is None else {"message": message, "at": at}
    return PydanticCustomError(PLAIN, "{message}", context)


def error_loc(err: ErrorDetails) -> list[str | int]:
    """Where an error is, below the validated model: pydantic's loc, plus the key a model validator named."""
    loc: list[str | int] = [part for part in err["loc"] if part != "[key]"]  # "[key]": a dict key's mark
    at = (err.get("ctx") or {}).get("at")
    return [*loc, at] if at is not None else loc


def error_message(err: ErrorDetails) -> str:
    """The message users see: a validator's own as written, pydantic's with the value it got."""
    message = _PLAIN_MESSAGES.get(err["type"], err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    got = err.get("input")
    says_what = "got " in message or "found " in message or err["type"] == PLAIN
    if err["type"] != "missing" and not isinstance(got, dict | list) and not says_what:
        message += f" (got {got!r:.60})"
    return message
