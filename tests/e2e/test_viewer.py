"""Browser: the shared image viewer on the speckle page. Hover a pixel and read its value (σ⁰ and dB, checked against
the file), zoom one view and see the other follow, open the map of a georeferenced result (network closed: the
overlay still draws)."""

import re

import numpy as np

from core import io as sio
from tests.e2e.browser import open_page, wait_idle


def _run_speckle(page, app_url, tmp_path, utm_geo):
    rng = np.random.default_rng(7)
    scene = np.full((64, 80), 0.05, np.float32)
    scene[:, 40:] = 0.3
    data = (scene * rng.gamma(1.0, 1.0, scene.shape)).astype(np.float32)
    src = tmp_path / "view.tif"
    sio.write_geotiff(src, data, utm_geo)
    open_page(page, app_url, "speckle")
    page.locator('[data-testid="stRadio"]').first.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(src))
    wait_idle(page)
    page.get_by_role("button", name="Run filters").click()
    wait_idle(page)
    page.get_by_text("Metrics", exact=True).wait_for()
    return data


def test_hover_reads_the_file_value_and_zoom_is_linked(page, app_url, tmp_path, utm_geo):
    data = _run_speckle(page, app_url, tmp_path, utm_geo)
    plot = page.locator(".js-plotly-plot").first
    plot.locator(".nsewdrag").nth(2).wait_for()  # the grid's three views drawn (input, Lee, refined Lee)
    wait_idle(page)
    drag = plot.locator(".nsewdrag").first  # the first subplot (the input)
    hover = plot.locator(".hoverlayer .hovertext").first
    for _ in range(5):  # a hover lands only on a settled chart: move in again when a late redraw swallowed it
        plot.scroll_into_view_if_needed()
        box = drag.bounding_box()
        page.mouse.move(box["x"] - 20, box["y"] - 20)
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6, steps=5)
        for _ in range(15):
            if hover.count() and hover.is_visible():
                break
            page.wait_for_timeout(200)
        else:
            continue
        break
    hover.wait_for(timeout=5_000)
    text = hover.text_content() or ""
    m = re.search(r"x (\d+), y (\d+).*?σ⁰ ([0-9.eE+-]+) \((-?[0-9.]+) dB\)", text, re.S)
    assert m, text
    x, y, lin, db = int(m[1]), int(m[2]), float(m[3]), float(m[4])
    assert abs(lin / data[y, x] - 1) < 1e-3  # 4 significant digits of the file's own value
    assert abs(db - 10 * np.log10(data[y, x])) < 0.006

    # box-zoom the input view: the filtered views show the same window
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_timeout(800)
    ranges = plot.evaluate(
        "gd => ['xaxis', 'xaxis2', 'xaxis3', 'yaxis', 'yaxis2', 'yaxis3'].map(a => gd._fullLayout[a].range)"
    )
    x1, x2, x3, y1, y2, y3 = ranges
    assert x1 == x2 == x3 and y1 == y2 == y3
    assert x1[1] - x1[0] < 60  # zoomed in from the 80 px wide image


def test_map_of_a_georeferenced_result_opens_offline(page, app_url, tmp_path, utm_geo):
    # close the network: only the app itself answers (the basemap tiles fail, the overlay must still draw)
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    _run_speckle(page, app_url, tmp_path, utm_geo)
    page.get_by_role("tab", name="Map").first.click()
    deck = page.locator('[data-testid="stDeckGlJsonChart"]').first
    deck.wait_for()
    page.wait_for_timeout(1500)
    assert deck.locator("canvas").count() >= 1
    assert "drawn on its footprint" in page.inner_text("body")


def test_large_scene_job_with_two_filters_shows_metrics(page, app_url, tmp_path, utm_geo):
    rng = np.random.default_rng(3)
    scene = np.where(np.arange(300)[None, :] < 150, 0.05, 0.3) * np.ones((260, 1))
    path = tmp_path / "big_scene.tif"
    sio.write_geotiff(path, (scene * rng.gamma(1.0, 1.0, scene.shape)).astype(np.float32), utm_geo)
    open_page(page, app_url, "speckle")
    page.get_by_text("Large scene or Sentinel-1 product on the server").click()
    field = page.get_by_label(re.compile("^Path"))
    field.fill(str(path))
    field.press("Enter")
    wait_idle(page)
    page.get_by_text("big_scene.tif: 300×260").wait_for()
    multiselect = page.locator('[data-testid="stMultiSelect"]').first
    multiselect.click()
    page.keyboard.type("Refined")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    page.get_by_role("button", name="Filter the whole scene").click()
    page.get_by_text("Metrics (decimated result)").wait_for()
    page.get_by_role("button", name="Refined Lee: COG").wait_for()  # the last element of the results
    wait_idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the metrics table
    body = page.inner_text("body")
    assert "Lee, Refined Lee: done in" in body  # one run, both filters
    assert "Lee: COG" in body and "Refined Lee: COG" in body and "Error" not in body
    with page.expect_download() as dl:
        page.get_by_role("button", name="Refined Lee: COG").click()
    out = tmp_path / "refined.tif"
    dl.value.save_as(out)
    assert sio.read_raster(out).data.shape == (260, 300)
