"""Training: start, watch, stop and resume training runs in the background; download or send the result."""

import dataclasses
import io
import uuid
import zipfile
from pathlib import Path

import streamlit as st

from core import catalog, roots
from core import io as sio
from core.compute import DEVICES
from core.errors import UserError
from core.files import digest_bytes
from core.train import dataset_zip, jobs
from core.train.config import TASKS, TrainConfig, parse_data, unet_depth_for
from core.train.layouts import LAYOUTS, find_pairs
from core.train.runs import RunFolder, list_runs, runs_root
from pages.components import run_guarded, server_path_input
from pages.viewer import show_images

KEY = "train"
ROOT = catalog.ROOT
AUTO_HELP = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}  # "from the task" rules
TASK_LABELS = {
    "pix2pix": "pix2pix: U-Net + 70x70 PatchGAN, BCE + 100·L1",
    "pix2pixhd": "pix2pixHD: GlobalGenerator + multi-scale D, LSGAN + feature matching",
    "chrgan": "C-HR-GAN: pix2pixHD with SE-ResNet blocks + 2·(1−SSIM)",
    "lora": "LoRA fine-tuning of an existing generator (adapters only)",
    "finetune": "Full fine-tuning of an existing generator (all weights)",
}
STATUS_ICON = {  # material icons: emoji render as empty boxes where no emoji font is installed
    "running": ":material/play_circle:",
    "starting": ":material/hourglass_top:",
    "stopping": ":material/hourglass_bottom:",
    "stopped": ":material/pause_circle:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
    "new": ":material/radio_button_unchecked:",
}

st.title("Training")
st.write(
    "Train a SAR-to-optical generator (pix2pix, pix2pixHD, C-HR-GAN) on paired images, or fine-tune one "
    "(LoRA adapters or all weights) for your sensor and region. Runs go on in a background process: reload "
    "the page or close the tab and they keep going; stop one and resume it later from its last checkpoint. "
    f"Run folders live in `{runs_root()}`."
)


UPLOAD_HOURS = 24  # extracted zips of sessions idle this long, that no live run reads, are removed at page start


def _live_data() -> list[str]:
    """Data folders of runs still starting or running (their extracted zips must stay)."""
    live = []
    for r in list_runs():
        try:
            if jobs.job_status(r)["status"] in jobs.ACTIVE:
                live.append(str(r.read_config().get("data") or ""))
        except (UserError, OSError, ValueError):
            continue
    return [d for d in live if d]


def _session_id() -> str:
    if "train_upload_session" not in st.session_state:  # one folder of extracted zips per browser session
        st.session_state["train_upload_session"] = uuid.uuid4().hex
    return st.session_state["train_upload_session"]


def _extract_upload(digest: str, blob: bytes, name: str) -> str:
    """Extract an uploaded zip once into this session's folder (checked whole first: core.train.dataset_zip)."""
    dest = dataset_zip.session_folder(_session_id()) / digest
    if dest.is_dir():
        return str(dataset_zip.dataset_root(dest))
    return str(dataset_zip.extract_zip(blob, dest, name))


dataset_zip.sweep_datasets(UPLOAD_HOURS * 3600, _live_data())


def dataset_section() -> tuple[str | None, str]:
    """Returns (data spec for TrainConfig or None, layout)."""
    mode = st.radio(
        "Training data",
        ["Synthetic demo scenes"] + (["Folder on the server"] if roots.server_paths() else []) + ["Upload a zip"],
        horizontal=True,
        key=f"{KEY}_data_mode",
        help="Synthetic scenes come from core/train/synthetic.py: land cover, roads, rivers and urban "
        "blocks with speckled SAR, useful to try the tools. Real data: SEN1-2, QXSLAB, pix2pixHD "
        "train_A/train_B, pix2pix A|B images, or sar/ + optical/ folders.",
    )
    layout = st.selectbox("Folder layout", ["auto", *LAYOUTS], key=f"{KEY}_layout")
    if mode == "Synthetic demo scenes":
        sensor = st.selectbox(
            "Synthetic sensor",
            ["A", "B"],
            key=f"{KEY}_sensor",
            help="A: 4-look speckle (the demo models' sensor); B: single-look, 2.5x gain, blur.",
        )
        return f"synthetic:{sensor}", layout
    if mode == "Folder on the server":
        folder = server_path_input(
            "Dataset folder on the server",
            f"{KEY}_folder",
            "dir",
            placeholder="/data/SEN1-2  (or …/QXSLAB, …/pix2pixHD with train_A + train_B)",
        )
        if folder is None:
            return None, layout
        root = str(folder)
    else:
        up = st.file_uploader(
            "Dataset zip (the folder zipped: e.g. sar/ + optical/, or s1/ + s2/ per terrain)",
            type=["zip"],
            key=f"{KEY}_zip",
        )
        if up is None:
            return None, layout
        blob = up.getvalue()
        root = run_guarded(_extract_upload, digest_bytes(blob), blob, up.name)
        if root is None:
            return None, layout
    found = run_guarded(find_pairs, root, layout)
    if found is None:
        return None, layout
    pairs, used = found
    if mode == "Folder on the server":  # a link inside the folder must not lead out of the allowed roots
        outside = next((p for pair in pairs for p in (pair.sar, pair.optical) if not roots.is_allowed(p)), None)
        if outside is not None:
            st.error(roots.refusal(str(outside), "file"))
            return None, layout
    st.caption(f"{len(pairs)} image pairs found in {root} (layout {used}).")
    return root, layout


# ------------------------------------------------------------------------------------------ new run
with st.expander("New run", expanded=not list_runs()):
    task = st.selectbox("Task", list(TASKS), format_func=lambda t: TASK_LABELS[t], key=f"{KEY}_task")
    data, layout = dataset_section()
    base: str | None = None
    if task in ("lora", "finetune"):
        models = catalog.base_generators()
        if not models:
            st.warning(
                "No generator to start from: checkpoints/ is empty and no run has finished yet. "
                "Give a path below or train a model first."
            )
        labels = [str(p.relative_to(ROOT)) if ROOT in p.parents else str(p) for p in models]
        choice = st.selectbox(
            "Base generator", ["(path below)"] + labels, index=1 if labels else 0, key=f"{KEY}_base_pick"
        )
        typed = server_path_input(
            "…or a generator file on the server (.safetensors of ours, SAR2Optical / pix2pixHD .pth)",
            f"{KEY}_base_path",
            "file",
        )
        base = str(typed) if typed else (str(models[labels.index(choice)]) if choice in labels else None)
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 10000, 5, key=f"{KEY}_epochs")
    batch = c2.number_input("Batch size", 1, 256, 4, key=f"{KEY}_batch")
    lr = c3.number_input(
        "Learning rate",
        1e-6,
        1e-1,
        None,
        format="%.5f",
        key=f"{KEY}_lr",
        placeholder="auto",
        help=f"Empty: {AUTO_HELP['lr']}.",
    )
    size = c4.select_slider("Training crop (px)", [32, 64, 128, 256, 512], value=128, key=f"{KEY}_size")
    c1, c2, c3, c4 = st.columns(4)
    width = c1.number_input(
        "Generator width",
        4,
        128,
        16,
        step=4,
        key=f"{KEY}_width",
        help="U-Net width / pix2pixHD ngf (64 is the published size; 16 trains fast on CPU).",
    )
    count = c2.number_input("Synthetic scenes", 8, 5000, 64, key=f"{KEY}_count")
    minutes = c3.number_input("Time limit (minutes, 0 = none)", 0.0, 10000.0, 0.0, key=f"{KEY}_minutes")
    device = c4.selectbox("Device", DEVICES, key=f"{KEY}_device")
    with st.expander("Losses, LoRA and more"):
        c1, c2, c3, c4 = st.columns(4)
        lambda_l1 = c1.number_input(
            "λ L1", 0.0, 1000.0, None, key=f"{KEY}_l1", placeholder="auto", help=f"Empty: {AUTO_HELP['lambda_l1']}."
        )
        lambda_feat = c2.number_input("λ feature matching", 0.0, 100.0, 10.0, key=f"{KEY}_feat")
        lambda_ssim = c3.number_input(
            "λ 2·(1−SSIM)",
            0.0,
            100.0,
            None,
            key=f"{KEY}_ssim",
            placeholder="auto",
            help=f"Empty: {AUTO_HELP['lambda_ssim']}.",
        )
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key=f"{KEY}_seed")
        c1, c2, c3, c4 = st.columns(4)
        rank = c1.number_input("LoRA rank", 1, 256, 16, key=f"{KEY}_rank")
        alpha = c2.number_input("LoRA alpha", 0.5, 1024.0, 32.0, key=f"{KEY}_alpha")
        dropout = c3.number_input("LoRA dropout", 0.0, 0.9, 0.1, key=f"{KEY}_dropout")
        val_fraction = c4.number_input("Validation fraction", 0.0, 0.5, 0.1, key=f"{KEY}_val")
        vgg = server_path_input(
            "VGG19 weights for the perceptual loss (torchvision .pth on the server; optional, pix2pixHD / C-HR-GAN)",
            f"{KEY}_vgg",
            "file",
        )
    if st.button("Start training", type="primary", key=f"{KEY}_start", disabled=data is None):
        data_root, sensor = parse_data(data)
        cfg = dict(
            task=task,
            data=data_root,
            synthetic_sensor=sensor or "A",
            layout=layout,
            epochs=int(epochs),
            batch_size=int(batch),
            lr=None if lr is None else float(lr),
            size=int(size),
            width=int(width),
            synthetic_count=int(count),
            max_seconds=float(minutes) * 60,
            device=device,
            lambda_l1=None if lambda_l1 is None else float(lambda_l1),
            lambda_feat=float(lambda_feat),
            lambda_ssim=None if lambda_ssim is None else float(lambda_ssim),
            seed=int(seed),
            lora_rank=int(rank),
            lora_alpha=float(alpha),
            lora_dropout=float(dropout),
            val_fraction=float(val_fraction),
            vgg_weights=str(vgg) if vgg else None,
            base_model=base,
            n_down=unet_depth_for(int(size)),
        )
        run = run_guarded(jobs.start_job, cfg)
        if run is not None:
            st.session_state[f"{KEY}_run"] = str(run.path)
            st.session_state[f"{KEY}_select"] = str(run.path)  # show the new run below
            st.success(f"Started run {run.name}.")

# ------------------------------------------------------------------------------------------ runs
runs = list_runs()
if not runs:
    st.info("No training runs yet. Open “New run”, pick a task and data, and press Start training.")
    st.stop()
paths = [str(r.path) for r in runs]
if st.session_state.get(f"{KEY}_select") not in paths:
    chosen = st.session_state.get(f"{KEY}_run")
    st.session_state[f"{KEY}_select"] = chosen if chosen in paths else paths[0]
selected = st.selectbox(
    "Run",
    paths,
    format_func=lambda p: Path(p).name,
    key=f"{KEY}_select",
    help="Runs in the runs folder, newest first; a run keeps going when the page is closed.",
)
st.session_state[f"{KEY}_run"] = selected
run = RunFolder(selected)


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder.parent).as_posix())
    return buf.getvalue()


def controls(status: dict) -> None:
    c1, c2, c3 = st.columns(3)
    if status["status"] in ("running", "starting"):
        if c1.button("Stop", key=f"{KEY}_stop", help="Saves a checkpoint after the current step and exits."):
            jobs.stop_job(run)
            st.rerun()
    elif status["status"] in ("stopped", "interrupted", "failed"):
        if c1.button(
            "Resume", key=f"{KEY}_resume", type="primary", help="Continues from the last checkpoint, at the same step."
        ):
            if run_guarded(jobs.resume_job, run) is not None:
                st.rerun()
    if run.generator_path.exists():
        c2.download_button(
            "Download generator (.safetensors)",
            run.generator_path.read_bytes(),
            file_name=f"{run.name}.safetensors",
            key=f"{KEY}_dl_gen",
        )
        collapsed = bool(status.get("collapsed"))
        anyway = collapsed and c3.checkbox(
            "Send the collapsed generator anyway", key=f"{KEY}_send_anyway", help="Its outputs are flat."
        )
        if c3.button("Send to translation", key=f"{KEY}_send", disabled=collapsed and not anyway):
            st.session_state["translate_model_path"] = str(run.generator_path)
            st.switch_page("pages/translate.py")
    if run.adapter_path.is_dir():
        c2.download_button(
            "Download LoRA adapter (.zip)",
            _zip_folder(run.adapter_path),
            file_name=f"{run.name}_adapter.zip",
            key=f"{KEY}_dl_adapter",
        )
    best = run.file("best_generator.safetensors")
    if best.exists() and status["status"] not in ("running", "starting"):
        c2.download_button(
            "Download best-validation generator",
            best.read_bytes(),
            file_name=f"{run.name}_best.safetensors",
            key=f"{KEY}_dl_best",
            help="The generator after the epoch with the best validation PSNR.",
        )
    best_adapter = run.file("best_adapter")
    if best_adapter.is_dir() and status["status"] not in ("running", "starting"):
        c2.download_button(
            "Download best-validation adapter (.zip)",
            _zip_folder(best_adapter),
            file_name=f"{run.name}_best_adapter.zip",
            key=f"{KEY}_dl_best_adapter",
        )


ACTIVE = jobs.job_status(run)["status"] in jobs.ACTIVE


@st.fragment(run_every=3 if ACTIVE else None)  # polls the run folder while the run is active
def monitor() -> None:
    status = jobs.job_status(run)
    if status["status"] in ("finished", "failed") and (run.path / "config.json").exists():  # ended: its zip goes
        dataset_zip.release_dataset(str(run.read_config().get("data") or ""), _live_data())
    total = int(status.get("total_steps") or 0)
    step = int(status.get("step") or 0)
    st.markdown(
        f"**{STATUS_ICON.get(status['status'], '')} {status['status'].capitalize()}"
        + (" — generator collapsed" if status.get("collapsed") else "")
        + "**"
        f" · step {step}"
        + (f" of {total}" if total else "")
        + (f" · {status['images_per_s']:.1f} images/s" if status.get("images_per_s") else "")
        + (
            f" · about {status['eta_s'] / 60:.0f} min left"
            if status.get("eta_s") and status["status"] == "running"
            else ""
        )
    )
    if status.get("collapsed"):
        st.error(
            status.get("collapse_message") or "The generator has collapsed: its outputs are flat.",
            icon=":material/error:",
        )
    if total:
        st.progress(min(1.0, step / total))
    if status.get("message"):
        (st.error if status["status"] in ("failed", "interrupted") else st.caption)(status["message"])
    for note in status.get("notes") or []:
        st.info(note)
    if status.get("data"):
        st.caption(f"Data: {status['data']}")
    controls(status)
    rows = run.read_rows("log.csv")
    if rows:
        import pandas as pd

        df = pd.DataFrame(rows).set_index("step")
        loss_cols = [c for c in df.columns if c.startswith("loss_")]
        c1, c2 = st.columns(2)
        c1.caption("Generator losses")
        c1.line_chart(df[[c for c in loss_cols if c.startswith("loss_G")]])
        c2.caption("Discriminator losses")
        c2.line_chart(df[[c for c in loss_cols if c.startswith("loss_D")]])
    val = run.read_rows("val.csv")
    if val:
        import pandas as pd

        vdf = pd.DataFrame(val)
        c1, c2 = st.columns(2)
        c1.metric(
            "Validation PSNR (dB)",
            f"{vdf['psnr'].iloc[-1]:.2f}",
            delta=f"{vdf['psnr'].iloc[-1] - vdf['psnr'].iloc[0]:+.2f}" if len(vdf) > 1 else None,
        )
        c2.metric(
            "Validation SSIM",
            f"{vdf['ssim'].iloc[-1]:.3f}",
            delta=f"{vdf['ssim'].iloc[-1] - vdf['ssim'].iloc[0]:+.3f}" if len(vdf) > 1 else None,
        )
        st.line_chart(vdf.set_index("epoch")[["psnr"]])
        st.dataframe(vdf, hide_index=True, width="stretch")
    latest = run.file("samples/latest.png")
    if latest.exists():
        samples_png = sio.read_raster(latest).data
        show_images(
            [sio.view.display_panel(samples_png, "latest epoch")],
            f"{KEY}_val",
            caption="Validation samples (SAR | generated | optical), latest epoch: 8-bit display values as saved. "
            "Drag to zoom, double-click to reset.",
        )
    with st.expander("Process output"):
        st.code(jobs.output_tail(run, 3000) or "(no output yet)")
    with st.expander("Configuration"):
        st.json(run.read_config() if (run.path / "config.json").exists() else {})


try:
    monitor()
except UserError as exc:
    st.error(str(exc))
