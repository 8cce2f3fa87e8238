"""Run folders: config, logs, atomic checkpoints with optimizer state, status, samples.

A run folder (under $SAR_STUDIO_RUNS if set, else runs/ in the repository) holds:
  config.json                   the TrainConfig the run was started with
  state.json                    status (starting/running/stopping/stopped/finished/failed), step, epoch, pid, message
  log.csv                       training losses every `log_every` steps (step, epoch, seconds, loss_*)
  val.csv                       validation PSNR / SSIM after every epoch
  checkpoints/train_state.safetensors   generator + discriminator + both optimizers + step (one atomic file)
  generator.safetensors         the trained generator in SAR Studio format (loads with core.checkpoints.load_model)
  best_generator.safetensors    the generator after the epoch with the best validation PSNR (LoRA: best_adapter/)
  adapter/                      LoRA runs: the peft adapter folder (adapter_config.json + adapter_model.safetensors)
  samples/epoch_NNN.png         validation sample grid (SAR | generated | optical) per epoch, samples/latest.png
  output.log                    stdout / stderr of the background process
  STOP                          written by `request_stop`; the trainer saves a checkpoint and exits
Every file is written through a temporary file and a rename, so a kill never leaves a half-written one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

from core.checkpoints import check_finite, load_state_strict, load_tensors, save_tensors, tensors_digest
from core.errors import UserError
from core.io import atomic_output

ROOT = Path(__file__).resolve().parents[2]
TRAIN_STATE = "checkpoints/train_state.safetensors"
GENERATOR = "generator.safetensors"


def runs_root() -> Path:
    env = os.environ.get("SAR_STUDIO_RUNS")
    return Path(env).expanduser() if env else ROOT / "runs"


def write_json(path: Path, data: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -------------------------------------------------------------------------------- creation
    @classmethod
    def create(cls, name: str | None = None, root: str | os.PathLike | None = None) -> RunFolder:
        root = Path(root) if root else runs_root()
        base = name or time.strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in base).strip("._") or "run"
        path, k = root / safe, 1
        while path.exists():
            k += 1
            path = root / f"{safe}-{k}"
        path.mkdir(parents=True)
        return cls(path)

    # ------------------------------------------------------------------------------------ paths
    @property
    def name(self) -> str:
        return self.path.name

    def file(self, rel: str) -> Path:
        return self.path / rel

    @property
    def train_state_path(self) -> Path:
        return self.path / TRAIN_STATE

    @property
    def generator_path(self) -> Path:
        return self.path / GENERATOR

    @property
    def adapter_path(self) -> Path:
        return self.path / "adapter"

    @property
    def stop_path(self) -> Path:
        return self.path / "STOP"

    # ------------------------------------------------------------------------------- config/state
    def write_config(self, config: dict) -> None:
        write_json(self.path / "config.json", config)

    def read_config(self) -> dict:
        path = self.path / "config.json"
        if not path.is_file():
            raise UserError(f"{self.path} has no config.json; it is not a training run folder.")
        try:
            cfg = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"{path} is corrupt ({str(exc)[:60]}); fix or restore it, or start a new run.") from None
        if not isinstance(cfg, dict) or not cfg:
            raise UserError(f"{path} is corrupt (not a JSON object of training options); fix it or start a new run.")
        return cfg

    def resume_checkpoint(self, is_main: bool = True) -> Path | None:
        """The state file to resume from, or None for a run that never saved one (its logs are then cleared to
        step 0, so a restart does not duplicate them). UserError when a checkpoint was saved (state.json records
        it) but the file is gone: resuming would silently restart at step 0."""
        path = self.train_state_path
        if path.exists():
            return path
        saved = self.state().get("checkpoint_step")
        if saved is not None:
            raise UserError(
                f"{self.path.name}: the training state {TRAIN_STATE} saved at step {saved} is missing, so the run "
                f"cannot resume; restore the file or start a new run."
            )
        if is_main:
            self.truncate_rows("log.csv", 0)
            self.truncate_rows("val.csv", 0)
        return None

    def discard_train_state(self) -> None:
        """Start over: remove the state file and its record (a run started again without --resume)."""
        self.train_state_path.unlink(missing_ok=True)
        if "checkpoint_step" in self.state():
            st = self.state()
            st.pop("checkpoint_step", None)
            st.pop("checkpoint_sha256", None)
            write_json(self.path / "state.json", st)

    def state(self) -> dict:
        return read_json(self.path / "state.json")

    def update_state(self, **fields) -> dict:
        st = self.state()
        st.update(fields)
        st["updated"] = time.time()
        write_json(self.path / "state.json", st)
        return st

    def request_stop(self) -> None:
        self.stop_path.write_text(str(time.time()))

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def clear_stop(self) -> None:
        try:
            self.stop_path.unlink()
        except FileNotFoundError:
            pass

    # -------------------------------------------------------------------------------------- logs
    def append_row(self, log: str, row: dict) -> None:
        """Append one row to log.csv / val.csv (header from the first row; columns fixed from then on)."""
        path = self.path / log
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            with open(path, newline="") as fh:
                header = next(csv.reader(fh), None) or list(row)
        else:
            header = list(row)
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
            if not exists:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k, "")) for k in header})
            fh.flush()
            os.fsync(fh.fileno())

    def read_rows(self, log: str) -> list[dict]:
        path = self.path / log
        if not path.exists():
            return []
        rows = []
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                try:
                    rows.append({k: float(v) for k, v in r.items() if v not in ("", None)})
                except ValueError:  # a line cut by a kill: ignore it
                    continue
        return rows

    def truncate_rows(self, log: str, max_step: int) -> None:
        """Drop rows logged after `max_step` (a resumed run repeats those steps); atomic rewrite."""
        path = self.path / log
        if not path.exists():
            return
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            keep = []
            for r in reader:
                try:
                    if float(r.get("step") or 0) <= max_step:
                        keep.append(r)
                except ValueError:
                    continue
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=header)
        w.writeheader()
        w.writerows(keep)
        with atomic_output(path) as tmp:
            tmp.write_text(buf.getvalue())

    def samples(self) -> list[Path]:
        d = self.path / "samples"
        return sorted(d.glob("epoch_*.png")) if d.is_dir() else []


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def list_runs(root: str | os.PathLike | None = None) -> list[RunFolder]:
    """Run folders under the runs root, newest first."""
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    runs = [RunFolder(p) for p in root.iterdir() if (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: (r.path / "config.json").stat().st_mtime, reverse=True)


# ------------------------------------------------------------------------------ training state


def optimizer_tensors(opt, prefix: str) -> tuple[dict, dict]:
    """Flatten an optimizer's state_dict into (tensors, JSON metadata)."""
    import torch

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.state.{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state_from(tensors: dict, meta: dict, prefix: str) -> dict:
    state: dict = {}
    plen = len(prefix) + len(".state.")
    for k, v in tensors.items():
        if k.startswith(prefix + ".state."):
            idx, name = k[plen:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for k, v in (meta.get("scalars") or {}).items():
        idx, name = k.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_train_state(path: Path, models: dict, optimizers: dict, **meta) -> None:
    """One atomic safetensors file with every model's state_dict and every optimizer's state, plus metadata.

    The metadata holds a sha256 of every tensor's bytes, checked by load_train_state; the run folder's
    state.json records the step and digest, so a deleted state file is noticed on resume."""

    tensors, opt_meta = {}, {}
    for name, m in models.items():
        for k, v in m.state_dict().items():
            tensors[f"{name}.{k}"] = v
    for name, opt in optimizers.items():
        t, om = optimizer_tensors(opt, name)
        tensors.update(t)
        opt_meta[name] = om
    digest = tensors_digest(tensors)
    save_tensors(path, tensors, optimizers=opt_meta, sha256=digest, **meta)
    run = Path(path).parent.parent
    if Path(path) == run / TRAIN_STATE:
        RunFolder(run).update_state(checkpoint_step=meta.get("step"), checkpoint_sha256=digest)


def load_train_state(path: Path, models: dict, optimizers: dict) -> dict:
    """Restore what save_train_state wrote (strictly); returns the metadata (step, epoch, ...).

    UserError (nothing restored) when the file is unreadable or its tensors fail the stored sha256."""

    name = f"{Path(path).parent.parent.name}/{TRAIN_STATE}"
    try:
        tensors, meta = load_tensors(path)
    except UserError as exc:
        raise UserError(f"{name} is damaged ({str(exc)[:100]}); the run cannot resume; start a new run.") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for a damaged data section
        raise UserError(f"{name} is damaged ({str(exc)[:60]}); the run cannot resume; start a new run.") from None
    stored = meta.get("sha256")
    if stored is not None and tensors_digest(tensors) != stored:
        raise UserError(
            f"{name} fails its checksum (its bytes changed after it was saved); the run cannot resume from it; "
            f"restore the file or start a new run."
        )
    if not isinstance(meta.get("step"), int) or not isinstance(meta.get("optimizers"), dict):
        raise UserError(f"{name} lacks its step or optimizer record; the run cannot resume; start a new run.")
    check_finite(tensors, name, "training state")
    for name_m, m in models.items():
        pre = name_m + "."
        sub = {k[len(pre) :]: v for k, v in tensors.items() if k.startswith(pre)}
        load_state_strict(m, sub, name_m, name)
    for name_o, opt in optimizers.items():
        try:
            opt.load_state_dict(optimizer_state_from(tensors, meta["optimizers"][name_o], name_o))
        except (KeyError, ValueError, TypeError) as exc:
            raise UserError(
                f"{name}: the {name_o} optimizer state does not fit this run ({str(exc)[:60]}); start a new run."
            ) from None
    return meta
