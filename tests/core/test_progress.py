"""The command-line progress bar: drawn on a terminal or when forced, silent in logs, counts what engines report."""

import argparse

from core.progress import add_progress_option, cli_progress, wants_bar


def test_bar_is_drawn_when_forced_and_reaches_the_total(capsys):
    with cli_progress("filtering", unit="block", force=True) as progress:
        for i in range(1, 8):
            progress(i, 7)
    err = capsys.readouterr().err
    assert "filtering" in err and "7/7" in err and "block" in err


def test_no_bar_when_stderr_is_not_a_terminal(capsys):
    # pytest's captured stderr is not a TTY: the default is silence
    assert wants_bar(None) is False
    with cli_progress("filtering") as progress:
        progress(3, 7)
    assert capsys.readouterr().err == ""


def test_cli_flags_override_the_terminal_check():
    parser = argparse.ArgumentParser()
    add_progress_option(parser)
    assert parser.parse_args([]).progress is None
    assert parser.parse_args(["--progress"]).progress is True
    assert parser.parse_args(["--no-progress"]).progress is False
    assert wants_bar(False) is False and wants_bar(True) is True
