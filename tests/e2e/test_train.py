"""Browser: start a small synthetic training run, watch it finish, see its metrics and samples, send it on."""

from tests.e2e.browser import open_page, wait_idle


def _fill(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_train_a_run_and_send_it_to_translation(page, app_url):
    open_page(page, app_url, "train")
    page.get_by_text("No training runs yet").wait_for()
    _fill(page, "Epochs", 1)
    _fill(page, "Synthetic scenes", 8)
    _fill(page, "Generator width", 4)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Started run").wait_for()
    # the run goes on in the background; the monitor polls the run folder every 3 s
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=150_000)
    wait_idle(page)
    page.get_by_text("Validation PSNR (dB)").wait_for()
    page.get_by_text("Validation samples (SAR | generated | optical)").wait_for()
    # the run survives a reload and is still listed
    page.reload()
    wait_idle(page)
    page.get_by_text("Validation PSNR (dB)").wait_for()
    # a 1-epoch width-4 run comes out flat: the page says the generator collapsed and asks before sending it
    anyway = page.get_by_text("Send the collapsed generator anyway")
    if anyway.count():
        anyway.click()
        wait_idle(page)
    page.get_by_role("button", name="Send to translation").click()
    page.wait_for_url("**/translate", timeout=60_000)
    wait_idle(page)
    assert "generator.safetensors" in page.inner_text("body")
