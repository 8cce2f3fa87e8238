"""The repository root, for tests that read shipped files (samples/, checkpoints/, pages/) or start `python -m core`
and `streamlit run` from it. One definition, so moving a test between folders changes nothing."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
