"""One foreign config file read key by key: every key is mapped to a TrainConfig option (said in a note), named as
having no effect on the trained network (said in the same note), or refused; refused and unknown keys end the
read with one line that lists them. Relative paths are read from the config file's folder (or, where they exist
only there, from one of the three folders above it: the projects run their scripts from there), and the option
remembers which key it came from so that an error about the path can say so.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError


class KeyMap:
    def __init__(self, name: str, folder: Path):
        self.name, self.folder = name, folder
        self.out: dict = {}
        self.origins: dict[str, str] = {}  # option -> "FILE key 'raw value'" for paths
        self.mapped: list[str] = []
        self.unused: list[str] = []
        self.refused: list[str] = []

    def set(self, key: str, option: str, value, shown: str | None = None) -> None:
        self.out[option] = value
        self.mapped.append(f"{key} -> {shown or option}")

    def path(self, key: str, option: str, value, raw=None, why: str = "") -> None:
        """A path option, resolved against the config file's folder when relative (raw: the value as written,
        when `value` was derived from it; why: how)."""
        if value in (None, ""):
            return
        if str(value).split(":")[0] == "synthetic":  # our synthetic scenes, not a folder
            self.set(key, option, str(value))
            return
        p = Path(str(value)).expanduser()
        resolved = p if p.is_absolute() else (self.folder / p).resolve()
        if not p.is_absolute() and not resolved.exists():
            # the projects run from a folder above their config (RGTGAN: options/ under the script's folder;
            # pix2pixHD: scripts/ or checkpoints/<name>/ under the repository): the first folder up where it exists
            for base in list(self.folder.parents)[:3]:
                if (base / p).exists():
                    resolved = (base / p).resolve()
                    break
        self.set(key, option, str(resolved), f"{option} = {resolved}")
        self.origins[option] = f"{key} {str(raw if raw is not None else value)!r} in {self.name}{why}"

    def no_effect(self, key: str, why: str = "") -> None:
        self.unused.append(f"{key}{f' ({why})' if why else ''}")

    def refuse(self, key: str, why: str) -> None:
        self.refused.append(f"{key} ({why})")

    def expect(self, key: str, value, allowed, why: str) -> bool:
        """True when value is one of allowed (nothing to map); else the key is refused with why."""
        if value in allowed:
            self.mapped.append(f"{key} {value!r} (the same here)")
            return True
        self.refuse(f"{key}: {value!r}", why)
        return False

    def finish(self) -> tuple[dict, list[str], dict[str, str]]:
        """(options, notes, path origins); UserError listing every refused key in one line."""
        if self.refused:
            raise UserError(
                f"{self.name}: keys we do not use: {'; '.join(self.refused)}; change or remove them "
                f"(nothing was trained)."
            )
        notes = [f"{self.name}: mapped {', '.join(self.mapped)}"] if self.mapped else []
        if self.unused:
            notes.append(f"{self.name}: no effect on the trained network here: {', '.join(self.unused)}")
        return self.out, notes, self.origins
