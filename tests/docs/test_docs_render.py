"""Every Markdown page renders as its writer meant (docs_pages.py says what each check looks for): code
fences closed where they should be, naming their language, no heading shown as code nor config shown
as prose, and every relative link going to a file and a heading that exist."""
import subprocess

import pytest

from tests.docs.docs_pages import fence_problems, link_problems, pages, prose_problems

PAGES = pages()


def test_every_page_is_walked():
    assert {"README.md", "docs/operations.md", "docs/device-api.md", "docs/sandbox.md", "docs/tools.md"} <= set(PAGES)


@pytest.mark.parametrize("path", PAGES)
def test_the_page_renders_as_written(path):
    problems = fence_problems(path) + prose_problems(path) + link_problems(path)
    assert not problems, "\n".join(problems)


def test_the_faults_are_caught(tmp_path):
    """A TOML block closed early (its rest and a heading in the wrong place), a fence never closed, a
    link to a missing page and one to a missing heading: each is named with its line."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Two words\n", "utf-8")
    (tmp_path / "docs" / "broken.md").write_text(
        "# Broken\n\n```toml\n[server]\n```\nport = 8080\n```\n\n## Devices\n\nRegister them.\n\n```\n\n"
        "[a](other.md#two-words) [b](other.md#three) [c](gone.md) [d](#broken)\n\n```sh\nls\n", "utf-8")
    assert pages(tmp_path) == ["docs/broken.md", "docs/other.md"]
    problems = "\n".join(fence_problems("docs/broken.md", tmp_path) + prose_problems("docs/broken.md", tmp_path)
                         + link_problems("docs/broken.md", tmp_path))
    assert "docs/broken.md:6: 'port = 8080' renders as prose" in problems
    assert "docs/broken.md:7: a code fence naming no language" in problems
    assert "docs/broken.md:9: the heading '## Devices' renders as code" in problems
    assert "docs/broken.md:17: the code fence opened here is never closed" in problems
    assert "link to 'other.md#three': no heading" in problems and "link to 'gone.md': no such file" in problems
    assert "#two-words" not in problems and "'#broken'" not in problems
    assert fence_problems("docs/other.md", tmp_path) == link_problems("docs/other.md", tmp_path) == []
