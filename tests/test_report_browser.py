"""The report in a real browser (headless Chromium): every image loads, no console error, the table
of contents resolves, the full-resolution viewer opens and closes, and the file stays within budget.

Skipped without Chromium unless POSTHOC_REQUIRE_BROWSER=1 (as in CI: .ci/run installs it), where it fails.
"""

import os
from pathlib import Path

import pytest

import browser

#: The default study's report must stay below this (e-mail limits); the test study's is far smaller.
BUDGET_MB = 10


@pytest.fixture(scope="module")
def chromium():
    if browser.chromium() is None:
        if os.environ.get("POSTHOC_REQUIRE_BROWSER") == "1":
            pytest.fail("POSTHOC_REQUIRE_BROWSER=1 but no chromium on PATH; run tests/setup_chromium.sh")
        pytest.skip("no chromium on PATH (tests/setup_chromium.sh installs it)")
    return browser.chromium()


def test_probe_sees_broken_images_errors_and_dead_links(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>t</title></head><body><nav><a href="#here">a</a>'
        '<a href="#nowhere">b</a></nav><main id="here"><img src="data:image/png;base64,AAAA" width="4" '
        'height="4" alt="x"><table><tr><th>h</th></tr></table></main>'
        "<script>undefinedFunction();</script></body></html>"
    )
    res = browser.inspect(page)
    assert [i["ok"] for i in res["images"]] == [False]
    assert res["toc_missing"] == ["nowhere"] and res["tables_without_caption"] == 1
    assert res["header_cells_without_scope"] == 1
    assert any("undefinedFunction" in e for e in res["errors"])
    assert any("failed to load IMG" in e for e in res["errors"])


@pytest.mark.e2e
def test_report_in_chromium(chromium, completed_run):
    report = Path(completed_run) / "results" / "report.html"
    res = browser.inspect(report)
    images = res["images"]
    assert images and res["lazy"] == len(images)
    failed = [i["alt"] for i in images if not i["ok"]]
    assert not failed, f"images that do not load: {failed}"
    for img in images:  # the width/height attributes reserve exactly the image's space
        assert img["natural"] == img["attr"], img["alt"]
        assert img["alt"] and img["alt"] not in img["caption"]
    assert res["errors"] == []
    assert res["toc_links"] > 10 and res["toc_missing"] == [] and res["toc_position"] == "sticky"
    assert res["tables"] > 0 and res["tables_without_caption"] == 0 and res["header_cells_without_scope"] == 0
    assert res["lightbox_open"] and res["lightbox_closed"]
    assert res["bytes"] <= BUDGET_MB * 1e6, f"report is {res['bytes'] / 1e6:.1f} MB"
    # no figure is shown taller than 90 % of the window or wider than the text column (click opens the full size)
    assert max(i["shown"][1] for i in images) <= 0.9 * res["viewport_height"] + 3
    assert max(i["shown"][0] for i in images) <= res["width"] - 250
    assert res["height"] > 0
