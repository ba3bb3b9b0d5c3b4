"""The answer renderer (``markdown.js``) in the browser: Markdown in, the exact elements out,
and untrusted markup only ever as text. Each case is run through the module itself and
compared with the HTML that the resulting DOM serialises to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site

pytestmark = pytest.mark.timeout(60)

CASES = [
    ("plain text", "<p>plain text</p>"),
    ("# Title\n\nbody", "<h3>Title</h3><p>body</p>"),
    (
        "**bold**, *it*, __b2__, _i2_, ~~gone~~ and `a < b`",
        "<p><strong>bold</strong>, <em>it</em>, <strong>b2</strong>, <em>i2</em>, "
        "<del>gone</del> and <code>a &lt; b</code></p>",
    ),
    ("snake_case_name stays", "<p>snake_case_name stays</p>"),
    ("- one\n- **two**\n  more", "<ul><li>one</li><li><strong>two</strong>\nmore</li></ul>"),
    ("1. first\n2. second", "<ol><li>first</li><li>second</li></ol>"),
    ("> quoted *text*", "<blockquote><p>quoted <em>text</em></p></blockquote>"),
    (
        "```html\n<b>not bold</b>\n```",
        '<pre><code data-lang="html">&lt;b&gt;not bold&lt;/b&gt;</code></pre>',
    ),
    ("```\nstill streaming", "<pre><code>still streaming</code></pre>"),
    (
        "| a | b |\n|---|:-:|\n| 1 | **2** |",
        "<table><thead><tr><th>a</th><th>b</th></tr></thead>"
        "<tbody><tr><td>1</td><td><strong>2</strong></td></tr></tbody></table>",
    ),
    ("line one\nline two\n\n---\n", "<p>line one\nline two</p><hr>"),
    (
        "[docs](https://example.com/a?b=<c)",
        '<p><a href="https://example.com/a?b=%3Cc" rel="noopener noreferrer nofollow" '
        'referrerpolicy="no-referrer" target="_blank">docs</a></p>',
    ),
    ("[x](javascript:alert(1))", "<p>x)</p>"),
    ("[x](JaVaScRiPt:alert`1`)", "<p>x</p>"),
    ("[x](data:text/html,hi)", "<p>x</p>"),
    ("[x](//evil.example/)", "<p>x</p>"),
    ("[x](/v1/admin/keys)", "<p>x</p>"),
    (
        "![pixel](https://tracker.example/p.png)",
        '<p><a href="https://tracker.example/p.png" rel="noopener noreferrer nofollow" '
        'referrerpolicy="no-referrer" target="_blank">[image: pixel]</a></p>',
    ),
    (
        '<img src=x onerror="alert(1)"><script>alert(2)</script>',
        '<p>&lt;img src=x onerror="alert(1)"&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>',
    ),
    ("<a href='javascript:x'>y</a>", "<p>&lt;a href='javascript:x'&gt;y&lt;/a&gt;</p>"),
]


@pytest.fixture(scope="module")
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(site.root + "/playground")
    opened.evaluate(
        """async () => {
            const { renderMarkdown } = await import('./playground/markdown.js');
            window.__render = (text) => {
                const box = document.createElement('div');
                box.append(renderMarkdown(text));
                return box.innerHTML;
            };
        }"""
    )
    yield opened
    context.close()


@pytest.mark.parametrize(("markdown", "html"), CASES, ids=[c[0][:30] for c in CASES])
def test_markdown_renders_to_exactly(page: Page, markdown: str, html: str) -> None:
    assert page.evaluate("(text) => window.__render(text)", markdown) == html
