"""The playground in headless Chromium against a real gateway: OCR on an uploaded picture,
a streamed answer, two models side by side, errors, Stop, the request as runnable code,
hostile model output, where the key is kept, and the usage tab."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ADMIN_KEY, Tab
from tests.support.gateway import GatewayProcess
from tests.support.images import data_url, make_image, text_image

pytestmark = pytest.mark.timeout(180)

SIGN = ["OPEN DAILY", "PARKING 42"]


def _png(tmp_path: Path, lines: list[str], name: str = "sign.png") -> Path:
    path = tmp_path / name
    path.write_bytes(text_image(lines))
    return path


WORDS = " ".join(SIGN).split()


def test_uploaded_words_come_back_from_local_ocr(tab: Tab, tmp_path: Path) -> None:
    png = _png(tmp_path, SIGN)
    tab.open(tab.site.gateway.api_key)
    tab.choose("local/ocr")
    tab.message("What does the sign say?")
    tab.page.get_by_label("Images", exact=True).set_input_files(str(png))
    thumb = tab.page.locator(".thumb")
    expect(thumb).to_have_count(1)
    width, height = _png_size(png.read_bytes())
    expect(thumb).to_contain_text(f"PNG · {width}×{height} ·")
    tab.send()
    answer = tab.page.get_by_role("region", name="Answer", exact=True)
    for word in WORDS:
        expect(answer).to_contain_text(word)
    usage = tab.page.get_by_label("Usage", exact=True)
    expect(usage).to_contain_text(re.compile(r"\d+ prompt \+ \d+ completion = \d+ tokens"))
    expect(usage).to_contain_text("$0 at catalog prices")
    expect(usage).to_contain_text("first token")


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_streamed_answer_arrives_in_pieces_with_its_cost(tab: Tab) -> None:
    tab.open(tab.site.gateway.api_key)
    tab.choose("fake/vision")
    tab.message("Say something slowly [[chunk_delay=0.1]]")
    tab.page.evaluate(
        """() => {
            window.__seen = [];
            new MutationObserver(() => {
                const answer = document.querySelector('.answer');
                if (answer) window.__seen.push(answer.textContent);
            }).observe(document.getElementById('columns'),
                       {childList: true, subtree: true, characterData: true});
        }"""
    )
    tab.send()
    answer = tab.page.get_by_role("region", name="Answer", exact=True)
    final = answer.text_content() or ""
    assert final.startswith("Fake reply from fake-vision-1:")
    seen = [text for text in tab.page.evaluate("window.__seen") if text]
    growing = sorted(set(seen), key=len)
    assert len(growing) >= 4, f"the answer arrived in {len(growing)} piece(s): {growing}"
    assert all(final.startswith(piece) for piece in growing)
    usage = tab.page.get_by_label("Usage", exact=True).text_content() or ""
    prompt, completion = map(int, re.search(r"(\d+) prompt \+ (\d+) completion", usage).groups())
    assert completion == len(final.split())
    expected = (prompt * 2.5 + completion * 10.0) / 1e6
    assert f"${expected:.3g}" in usage or f"${expected:.4f}" in usage, usage


def test_compare_two_models_side_by_side(tab: Tab, tmp_path: Path) -> None:
    tab.open(tab.site.gateway.api_key)
    tab.choose("local/ocr")
    tab.page.get_by_role("button", name="Compare with another model").click()
    tab.choose("fake/vision", "Model 2")
    expect(tab.page.locator("#model-2-info")).to_contain_text("$2.50 in / $10.00 out")
    tab.message("Read it")
    tab.page.get_by_label("Images", exact=True).set_input_files(str(_png(tmp_path, SIGN)))
    expect(tab.page.locator(".thumb")).to_have_count(1)
    tab.send()
    first = tab.page.get_by_role("region", name="Answer", exact=True)
    second = tab.page.get_by_role("region", name="Answer 2", exact=True)
    for word in WORDS:
        expect(first).to_contain_text(word)
    expect(second).to_contain_text("Fake reply from fake-vision-1: 1 image(s)")
    expect(tab.page.get_by_label("Usage 2", exact=True)).to_contain_text("at catalog prices")
    assert tab.site.fake.last.image_urls[0].startswith("data:image/png;base64,")


def test_errors_show_the_gateway_code_and_param(tab: Tab, tmp_path: Path) -> None:
    tab.open(tab.site.gateway.api_key)
    tab.choose("fake/one-image")
    expect(tab.page.locator("#model-1-info")).to_contain_text("up to 1 per request")
    tab.message("Two pictures")
    tab.page.get_by_label("Images", exact=True).set_input_files(
        [str(_png(tmp_path, ["ONE"], "one.png")), str(_png(tmp_path, ["TWO"], "two.png"))]
    )
    expect(tab.page.locator(".thumb")).to_have_count(2)
    tab.send()
    error = tab.page.get_by_role("alert")
    expect(error).to_contain_text("Error 400 too_many_images (param messages")
    expect(tab.page.locator(".column")).to_have_attribute("data-state", "failed")

    tab.page.get_by_label("API key").fill("not-a-key")
    expect(tab.page.locator("#models-status")).to_contain_text("Error 401 invalid_api_key")
    tab.page.get_by_role("button", name="Remove image 2").click()
    tab.send()
    expect(tab.page.get_by_role("alert")).to_contain_text("Error 401 invalid_api_key")
    assert "not-a-key" not in (tab.page.get_by_role("alert").text_content() or "")


def test_stop_cancels_the_stream_and_the_upstream_call(tab: Tab) -> None:
    fake = tab.site.fake
    before = fake.disconnects
    tab.open(tab.site.gateway.api_key)
    tab.choose("fake/vision")
    tab.message("A long one [[chunks=200]] [[chunk_delay=0.2]]")
    tab.page.get_by_role("button", name="Send").click()
    answer = tab.page.get_by_role("region", name="Answer", exact=True)
    expect(answer).to_contain_text("Fake reply")
    tab.page.get_by_role("button", name="Stop").click()
    expect(tab.page.locator(".column")).to_have_attribute("data-state", "stopped")
    expect(tab.page.get_by_label("Usage", exact=True)).to_contain_text("stopped")
    deadline = time.monotonic() + 15
    while fake.disconnects == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == before + 1, "the gateway did not cancel the upstream call"
    assert len((answer.text_content() or "").split()) < 200
    expect(tab.page.get_by_role("button", name="Send")).to_be_enabled()


def _sent_bodies(tab: Tab) -> list[dict]:
    return [
        json.loads(r.post_data or "{}")
        for r in tab.sent
        if r.method == "POST" and r.url.endswith("/v1/chat/completions")
    ]


def _heredoc_json(code: str) -> dict:
    return json.loads(code.split("<<'JSON'\n", 1)[1].rsplit("\nJSON\n", 1)[0])


def test_copy_as_code_reproduces_the_request(tab: Tab, tmp_path: Path) -> None:
    tab.open(tab.site.gateway.api_key)
    tab.choose("local/ocr")
    tab.message("What's written here?")
    tab.page.get_by_label("Images", exact=True).set_input_files(str(_png(tmp_path, SIGN)))
    expect(tab.page.locator(".thumb")).to_have_count(1)
    tab.page.get_by_text("Options").click()
    tab.page.get_by_label("System prompt").fill("Answer briefly.")
    tab.page.get_by_label("Max tokens").fill("300")
    tab.send()
    (sent,) = _sent_bodies(tab)

    tab.page.get_by_role("button", name="Copy as curl").click()
    expect(tab.page.locator("#copy-status")).to_contain_text("Copied as curl")
    code = tab.page.get_by_label("Code").input_value()
    assert tab.page.evaluate("navigator.clipboard.readText()") == code
    assert _heredoc_json(code) == sent
    assert sent["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png")
    assert tab.site.gateway.api_key not in code
    env = {**os.environ, "VISIONGATE_API_KEY": tab.site.gateway.api_key}
    ran = subprocess.run(
        ["bash", "-c", code + "\n"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert '"object":"chat.completion.chunk"' in ran.stdout
    assert "data: [DONE]" in ran.stdout
    for word in WORDS:
        assert word in ran.stdout
    status = subprocess.run(
        ["bash", "-c", code.replace("curl -sS -N", "curl -sS -o /dev/null -w '%{http_code}'", 1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.stdout == "200", status.stdout + status.stderr

    tab.page.get_by_role("button", name="Copy as Python").click()
    python = tab.page.get_by_label("Code").input_value()
    ran = subprocess.run(
        [sys.executable, "-c", python], env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    for word in WORDS:
        assert word in ran.stdout
    assert "completion_tokens=" in ran.stdout

    tab.page.get_by_role("button", name="Copy as JavaScript").click()
    script = tab.page.get_by_label("Code").input_value()
    assert 'import OpenAI from "openai";' in script
    assert json.dumps(sent["messages"][1]["content"][1]["image_url"]["url"]) in script
    node = shutil.which("node")
    if node is not None:  # syntax only: the openai npm package is not installed here
        path = tmp_path / "request.mjs"
        path.write_text(script)
        checked = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


XSS = """Here is a picture <img src=x onerror="window.__pwned = 'img'"> and
<script>window.__pwned = 'script'</script>

[click me](javascript:window.__pwned='link') and ![tracker](https://tracker.invalid/pixel.png)
and a [real link](https://example.com/docs) and <iframe src="https://evil.invalid/"></iframe>
"""


def test_hostile_model_output_executes_nothing(tab: Tab) -> None:
    tab.site.fake.reply = XSS
    tab.context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    tab.open(tab.site.gateway.api_key)
    tab.choose("fake/vision")
    tab.message("Be nasty")
    tab.send()
    answer = tab.page.get_by_role("region", name="Answer", exact=True)
    expect(answer).to_contain_text("<script>window.__pwned = 'script'</script>")
    expect(answer).to_contain_text("<img src=x onerror=\"window.__pwned = 'img'\">")
    for tag in ("img", "script", "iframe"):
        assert answer.locator(tag).count() == 0, tag
    links = answer.locator("a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        "https://tracker.invalid/pixel.png",
        "https://example.com/docs",
    ]
    assert links.nth(1).get_attribute("rel") == "noopener noreferrer nofollow"
    answer.get_by_text("click me").click()
    tab.page.wait_for_timeout(200)
    assert tab.page.evaluate("window.__pwned") is None
    assert tab.page.evaluate("window.__violations") == []
    assert tab.foreign_requests() == []


def test_the_key_stays_in_session_storage(tab: Tab) -> None:
    key = tab.site.gateway.api_key
    tab.open(key)
    tab.choose("fake/vision")
    tab.message("hello")
    tab.send()
    tab.page.goto(f"{tab.origin}/playground#usage")
    tab.page.get_by_label("Admin key").fill(ADMIN_KEY)
    expect(tab.page.locator("#usage")).to_contain_text("requests")
    tab.page.reload()
    expect(tab.page.get_by_label("API key")).to_have_value(key)
    assert tab.page.evaluate("sessionStorage.getItem('visiongate.apiKey')") == key
    stored = tab.page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert key not in stored and ADMIN_KEY not in stored
    cookies = json.dumps(tab.context.cookies())
    assert key not in cookies and ADMIN_KEY not in cookies
    assert tab.sent, "the page sent nothing"
    for request in tab.sent:
        assert key not in request.url and ADMIN_KEY not in request.url
        referer = request.headers.get("referer", "")
        assert key not in referer
    assert key not in tab.page.url
    authorized = [r for r in tab.sent if "authorization" in r.headers]
    assert {r.headers["authorization"] for r in authorized} == {
        f"Bearer {key}",
        f"Bearer {ADMIN_KEY}",
    }
    assert tab.foreign_requests() == []


def test_usage_tab_shows_the_requests_just_made(tab: Tab) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = requests.post(
        f"{tab.origin}/v1/admin/keys",
        json={"name": "browser-tests", "rpm": 120, "budget_usd": 5},
        headers=admin,
        timeout=10,
    ).json()
    tab.open(created["key"])
    tab.choose("fake/vision")
    tab.message("count me")
    tab.send()
    expect(tab.page.locator(".column")).to_have_attribute("data-state", "done")

    tab.page.get_by_role("link", name="Usage").click()
    expect(tab.page.locator("#usage")).to_contain_text("VISIONGATE_ADMIN_KEY")
    tab.page.get_by_label("Admin key").fill(ADMIN_KEY)
    by_key = tab.page.get_by_role("table", name="Usage by key")
    deadline = time.monotonic() + 20
    while "browser-tests" not in (by_key.text_content() if by_key.count() else "") and (
        time.monotonic() < deadline
    ):
        tab.page.get_by_role("button", name="Refresh").click()
        tab.page.wait_for_timeout(300)
    expect(by_key).to_contain_text(f"browser-tests ({created['id']})")
    by_model = tab.page.get_by_role("table", name="Usage by model")
    expect(by_model).to_contain_text("fake/vision")
    keys = tab.page.get_by_role("table", name="Keys")
    expect(keys).to_contain_text(created["prefix"])
    expect(keys).to_contain_text("$5")
    row = keys.locator("tr", has_text=created["prefix"])
    expect(row).to_contain_text("120")
    expect(row).not_to_contain_text("never")
    chart = tab.page.get_by_role("img", name="Spend (USD) by day")
    expect(chart.locator("rect")).not_to_have_count(0)
    tab.page.get_by_label("30 days").check()
    tab.page.get_by_label("Chart").select_option("requests")
    expect(tab.page.get_by_role("img", name="Requests by day").locator("rect")).to_have_count(31)


def test_a_jpeg_thumbnail_and_an_image_url(tab: Tab, tmp_path: Path) -> None:
    photo = tmp_path / "photo.bin"
    photo.write_bytes(make_image("JPEG", (120, 80)))
    tab.open(tab.site.gateway.api_key)
    tab.page.get_by_label("Images", exact=True).set_input_files(str(photo))
    tab.page.get_by_label("Image URL").fill("https://images.example/cat.jpg")
    tab.page.get_by_role("button", name="Add URL").click()
    thumbs = tab.page.locator(".thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.nth(0)).to_contain_text("JPEG · 120×80 ·")
    expect(thumbs.nth(1)).to_contain_text("by URL: the gateway fetches it")
    tab.page.get_by_label("Image URL").fill("file:///etc/passwd")
    tab.page.get_by_role("button", name="Add URL").click()
    expect(tab.page.locator("#attach-status")).to_contain_text("absolute http(s) or data: URL")
    tab.page.get_by_label("Image URL").fill("data:text/html,<b>hi</b>")
    tab.page.get_by_role("button", name="Add URL").click()
    expect(tab.page.locator("#attach-status")).to_contain_text("must hold an image")
    pasted = make_image("PNG", (33, 22))
    tab.page.get_by_label("Image URL").fill(data_url(pasted, "image/png"))
    tab.page.get_by_role("button", name="Add URL").click()
    expect(thumbs).to_have_count(3)
    expect(thumbs.nth(2)).to_contain_text(f"PNG · 33×22 · {len(pasted)} B")
    tab.choose("fake/vision")
    tab.message("three")
    tab.send()
    urls = tab.site.fake.last.image_urls
    assert urls[1:] == ["https://images.example/cat.jpg", data_url(pasted, "image/png")]
    assert tab.foreign_requests() == []


DROP_AND_PASTE = """async ({ png, jpeg }) => {
    const file = (b64, name, type) =>
        new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type });
    const dropped = new DataTransfer();
    dropped.items.add(file(png, "dropped.png", "image/png"));
    document.getElementById("drop").dispatchEvent(
        new DragEvent("drop", { dataTransfer: dropped, bubbles: true, cancelable: true }));
    const pasted = new DataTransfer();
    pasted.items.add(file(jpeg, "", "image/jpeg"));
    document.getElementById("message").dispatchEvent(
        new ClipboardEvent("paste", { clipboardData: pasted, bubbles: true, cancelable: true }));
}"""


def test_drop_paste_and_ctrl_enter(tab: Tab) -> None:
    png = base64.b64encode(text_image(SIGN)).decode()
    jpeg = base64.b64encode(make_image("JPEG", (40, 30))).decode()
    tab.open(tab.site.gateway.api_key)
    tab.choose("fake/vision")
    tab.page.evaluate(DROP_AND_PASTE, {"png": png, "jpeg": jpeg})
    thumbs = tab.page.locator(".thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.nth(0)).to_contain_text("dropped.png")
    expect(thumbs.nth(1)).to_contain_text("pasted image")
    expect(thumbs.nth(1)).to_contain_text("JPEG · 40×30 ·")
    tab.page.get_by_label("Message", exact=True).press("Control+Enter")
    answer = tab.page.get_by_role("region", name="Answer", exact=True)
    expect(answer).to_contain_text("Fake reply from fake-vision-1: 2 image(s)")
    formats = [url.split(";")[0] for url in tab.site.fake.last.image_urls]
    assert formats == ["data:image/png", "data:image/jpeg"]


def test_usage_tab_on_a_server_without_an_admin_key(
    browser: Browser, gateway: GatewayProcess
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(gateway.root + "/playground#usage")
        expect(page.locator("#usage")).to_contain_text("Enter the admin key above")
        page.get_by_label("Admin key").fill("anything")
        expect(page.locator("#usage")).to_contain_text("Error 403 admin_disabled")
        expect(page.locator("#usage")).to_contain_text("This server has no admin key")
    finally:
        context.close()


def test_a_model_without_a_catalog_price_says_so(tab: Tab) -> None:
    tab.open(tab.site.gateway.api_key)
    option = tab.page.locator('#model-1 option[value="fake/unpriced"]')
    expect(option).to_have_text("fake/unpriced — ≤20 images — price unknown")
    tab.choose("fake/unpriced")
    expect(tab.page.locator("#model-1-info")).to_contain_text("price unknown in / price unknown")
    tab.message("hello")
    tab.send()
    usage = tab.page.get_by_label("Usage", exact=True)
    expect(usage).to_contain_text("cost unknown (no catalog price)")
