"""The last result of each page, kept on the server under a token so that a reload of the same browser finds it.

A browser reload starts a new Streamlit session, and session state is gone. Pages put a random token in the URL
(`?session=...`, no cookie), and save their last result under `<upload root>/recent/<token>/<page>.npz` (arrays)
and `.json` (labels, parameters, the input's identity). A reload keeps the URL, so the token, so the result. Only
plain arrays and JSON are written and read back (never pickles); a token is 22 URL-safe characters, checked before
it becomes a folder name. Folders untouched for KEEP_DAYS are removed when a page saves.
Whoever has the URL sees the result: it is as private as the link, like the app itself.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import time
from pathlib import Path

import numpy as np

from core.files import upload_root
from core.io.write import write_bytes

KEEP_DAYS = 7
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")
_PAGE = re.compile(r"^[a-z0-9_]{1,32}$")


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 22 characters


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN.match(token))


def _folder(token: str) -> Path:
    if not valid_token(token):
        raise ValueError("not a session token")
    return upload_root() / "recent" / token


def save(token: str, page: str, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Replace `page`'s last result for `token` (arrays as .npz, meta as JSON, both written atomically)."""
    if not _PAGE.match(page):
        raise ValueError(f"bad page name {page!r}")

    folder = _folder(token)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes(folder / f"{page}.npz", buf.getvalue())
    write_bytes(folder / f"{page}.json", json.dumps(dict(meta, saved=time.time())).encode())
    _forget_old(folder.parent)


def load(token: str | None, page: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """`page`'s last result for `token`, or None (no token, nothing saved, or unreadable)."""
    if token is None or not valid_token(token) or not _PAGE.match(page):
        return None
    folder = _folder(token)
    try:
        meta = json.loads((folder / f"{page}.json").read_text())
        with np.load(folder / f"{page}.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return None
    return meta, arrays


def _forget_old(root: Path) -> None:
    cutoff = time.time() - KEEP_DAYS * 86400
    for d in root.iterdir() if root.is_dir() else []:
        try:
            if d.is_dir() and valid_token(d.name) and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue
