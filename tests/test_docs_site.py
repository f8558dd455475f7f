"""The documentation: the README fits a sitting and points only at files that exist, and the
MkDocs site (docs/, mkdocs.yml) builds in strict mode without a single warning."""
import re
import subprocess
import sys

from service import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def test_the_readme_fits_a_sitting_and_its_links_resolve():
    from markdown.extensions.toc import slugify  # the anchors MkDocs gives headings

    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    local = [(path, anchor) for path, anchor in re.findall(r"\]\(([^)#]+)(?:#([^)]*))?\)", text) if "://" not in path]
    assert local, "the README points at the documentation"
    assert [path for path, _ in local if not (PROJECT_ROOT / path).exists()] == []
    for path, anchor in local:
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (PROJECT_ROOT / path).read_text(encoding="utf-8"), re.M)
            assert anchor in {slugify(h, "-") for h in headings}, (path, anchor)


def test_the_site_builds_in_strict_mode_without_a_warning(tmp_path):
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    assert "WARNING" not in output, output
    # The rule files' own README is in the site, included rather than copied.
    page = (tmp_path / "site" / "rule-files" / "index.html").read_text(encoding="utf-8")
    assert "Readings chosen where the law is open" in page
