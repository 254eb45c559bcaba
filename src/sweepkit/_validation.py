"""pydantic's ValidationError as our SpecError: the one converter every model of a sweep file's sections goes through
(the top-level spec, the early-stopping sections, a strategy's options), so all of them name keys alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from sweepkit.errors import SpecError, did_you_mean

PLAIN = "sweepkit"  # the error type of a message that is whole as written (no "(got ...)" added to it)


def plain(message: str, at: str | None = None) -> PydanticCustomError:
    """A validator's error shown exactly as written: the value is named in it already. `at`: the key it is about,
    where a check of several keys (a model validator) would otherwise report the section itself."""
    context = {"message": message} if at is None else {"message": message, "at": at}
    return PydanticCustomError(PLAIN, "{message}", context)


# pydantic's wording where it names its own classes ("a valid dictionary or instance of BudgetSpec").
_PLAIN_MESSAGES = {
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
}


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


def _owner(model: type[BaseModel], loc: list[str]) -> Any:
    """The model whose field `loc` names (`ResourcesSpec | None`: the union's member that has fields)."""
    owner: Any = model
    for part in loc:
        owner = owner.model_fields[part].annotation
        owner = next((m for m in getattr(owner, "__args__", ()) if hasattr(m, "model_fields")), owner)
    return owner


def validation_error(
    exc: ValidationError, model: type[BaseModel], *, file: str | None, key: Callable[[str], str], prefix: str = ""
) -> SpecError:
    """The first pydantic error as one SpecError, at the key path the user wrote.

    `key` turns a native path (`prefix` + the error's location) into the user's; an unknown key's message is the
    owning model's `unknown_key(name)` where it has one, else `unknown key "x" in <section>` with a did-you-mean
    over its fields (and its `other_keys`)."""
    err = exc.errors()[0]
    loc = [str(part) for part in error_loc(err)]
    path = key(".".join(part for part in (prefix, *loc) if part))
    if err["type"] == "extra_forbidden":
        owner = _owner(model, loc[:-1])
        if hasattr(owner, "unknown_key"):
            return SpecError(owner.unknown_key(loc[-1]), file=file, key=path)
        options = [*getattr(owner, "model_fields", {}), *getattr(owner, "other_keys", ())]
        parent = path.rpartition(".")[0]
        where = f"in {parent}" if parent else "at the top of the file"
        hint = did_you_mean(loc[-1], options)
        return SpecError(f'unknown key "{loc[-1]}" {where}{hint}', file=file, key=path)
    return SpecError(error_message(err), file=file, key=path)
