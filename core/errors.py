"""The one error type a user sees.

Raise `UserError("<what was wrong>; <what to do>.")` for anything caused by the user's input or setup
(bad file, wrong checkpoint, missing folder, impossible option). The command line prints `error: <sentence>`
and exits 2; pages show it with `st.error`. Any other exception is a bug and surfaces as one.

Library warnings are no messages of ours: `silence_expected_warnings()` (inside a `warnings.catch_warnings()`)
drops the ones that say what the user already knows; the CLI prints any other as one `note:` line and folder runs
carry them in the file's notes, never as Python's two-line warning with a source line.
"""

import warnings

# Library warnings that say what the user already knows or what our own lines say better.
EXPECTED_WARNINGS = (
    "Dataset has no geotransform, gcps, or rpcs",  # rasterio: a plain PNG/JPEG; georeference is reported by us
    "Detected pickle protocol",  # torch's weights-only loader; our refusal or the result follows
)


def silence_expected_warnings() -> None:
    """Ignore EXPECTED_WARNINGS; call inside `warnings.catch_warnings()` so the filters are undone after."""
    for text in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=".*" + text)


class UserError(Exception):
    """A one-sentence message that says what went wrong and what to do about it."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message
