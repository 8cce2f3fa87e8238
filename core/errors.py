"""The one error type a user sees.

Raise `UserError("<what was wrong>; <what to do>.")` for anything caused by the user's input or setup
(bad file, wrong checkpoint, missing folder, impossible option). The command line prints `error: <sentence>`
and exits 2; pages show it with `st.error`. Any other exception is a bug and surfaces as one.
"""


class UserError(Exception):
    """A one-sentence message that says what went wrong and what to do about it."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message
