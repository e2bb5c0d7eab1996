"""Open an HTML report in headless Chromium and read back what a reader's browser sees.

A copy of the page gets two small inline scripts: one first in ``<head>`` that records errors
(uncaught exceptions, failed resources, ``console.error``), one last in ``<body>`` that decodes every
image, resolves the table-of-contents links, opens and closes the full-resolution viewer, measures
the page and writes the results as JSON into the DOM, which ``chromium --dump-dom`` prints.

    python tests/browser.py results/report.html [--screenshot out.png]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 1400
HEAD_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__errors.push(t && t !== window && (t.src || t.href) ? "failed to load " + (t.tagName || "") + " " +
    String(t.src || t.href).slice(0, 60) : String(e.message));
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__errors.push("unhandled rejection: " + e.reason); });
(function () { var ce = console.error; console.error = function () {
  window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
  ce.apply(console, arguments); }; })();
</script>"""
BODY_PROBE = """<script>
(function () {
  // Timers run on Chromium's virtual clock, which waits for pending image loads: no decode() promises here,
  // they are not tracked by --virtual-time-budget.
  var out = {}, imgs = Array.prototype.slice.call(document.querySelectorAll("main img"));
  out.lazy = imgs.filter(function (i) { return i.getAttribute("loading") === "lazy"; }).length;
  imgs.forEach(function (img) { img.loading = "eager"; });
  setTimeout(function () {
    out.images = imgs.map(function (img) {
      var fig = img.closest("figure"), cap = fig && fig.querySelector("figcaption");
      return {ok: img.complete && img.naturalWidth > 0, natural: [img.naturalWidth, img.naturalHeight],
              attr: [+img.getAttribute("width"), +img.getAttribute("height")], alt: img.alt,
              shown: [img.getBoundingClientRect().width, img.getBoundingClientRect().height],
              caption: cap ? cap.textContent : ""};
    });
    var links = Array.prototype.slice.call(document.querySelectorAll('nav a[href^="#"]'));
    out.toc_links = links.length;
    out.toc_missing = links.map(function (a) { return a.getAttribute("href").slice(1); })
                           .filter(function (id) { return !document.getElementById(id); });
    var nav = document.querySelector("nav");
    out.toc_position = nav ? getComputedStyle(nav).position : null;
    out.tables = document.querySelectorAll("main table").length;
    out.tables_without_caption = document.querySelectorAll("main table:not(:has(caption))").length;
    out.header_cells_without_scope = document.querySelectorAll("main th:not([scope])").length;
    out.height = document.documentElement.scrollHeight;
    out.width = document.documentElement.clientWidth;
    out.viewport_height = window.innerHeight;
    var box = document.getElementById("lightbox");
    if (imgs.length && box) { imgs[0].click(); }
    setTimeout(function () {
      if (imgs.length && box) {
        var big = box.querySelector("img");
        out.lightbox_open = !box.hidden && !!big && big.naturalWidth === imgs[0].naturalWidth;
        document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
        out.lightbox_closed = box.hidden;
      }
      out.errors = window.__errors;
      var pre = document.createElement("pre");
      pre.id = "browser-probe";
      pre.textContent = JSON.stringify(out);
      document.body.appendChild(pre);
    }, 1000);
  }, 3000);
})();
</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1000",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, HOME=profile))


def inspect(html_path, timeout: int = 300) -> dict:
    """What Chromium sees on the page: images, contents links, errors, height (see module docstring)."""
    html_path = Path(html_path)
    text = html_path.read_text(encoding="utf-8")
    probed = text.replace("<head>", "<head>\n" + HEAD_PROBE, 1).replace("</body>", BODY_PROBE + "\n</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / html_path.name
        page.write_text(probed, encoding="utf-8")
        proc = _run(["--virtual-time-budget=120000", "--dump-dom", page.as_uri()], timeout)
    match = re.search(r'<pre id="browser-probe">(.*?)</pre>', proc.stdout, re.S)
    if not match:
        raise RuntimeError(f"chromium did not finish the page probe (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(
        match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )
    result["bytes"] = html_path.stat().st_size
    return result


def screenshot(html_path, png_path, height: int = 4000, timeout: int = 300) -> None:
    _run(
        [
            f"--window-size={WIDTH},{height}",
            "--virtual-time-budget=20000",
            f"--screenshot={Path(png_path).resolve()}",
            Path(html_path).resolve().as_uri(),
        ],
        timeout,
    )


if __name__ == "__main__":
    report = Path(sys.argv[1])
    res = inspect(report)
    images = res.pop("images")
    print(
        json.dumps(
            {
                **res,
                "n_images": len(images),
                "images_failed": sum(not (i["ok"] and i["natural"][0] > 0) for i in images),
                "MB": round(res["bytes"] / 1e6, 2),
            },
            indent=1,
        )
    )
    if "--screenshot" in sys.argv:
        screenshot(report, sys.argv[sys.argv.index("--screenshot") + 1])
