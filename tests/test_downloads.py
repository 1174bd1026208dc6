"""One download per tutorial (NN-slug.zip) and file links that download (overrides/hooks/downloads.py)."""

from __future__ import annotations

import re
import zipfile

from bs4 import BeautifulSoup

from conftest import LANGS, load_file, registry

downloads = load_file("overrides/hooks/downloads.py")


def test_every_tutorial_has_a_zip_of_exactly_its_published_files(built):
    for tutorial in registry().values():
        folder = built.site / tutorial.path
        archive = folder / f"{tutorial.slug}.zip"
        assert archive.is_file(), f"{archive} is missing"
        # The published files: what the build copied into the tutorial's folder from docs/, nothing generated
        # (the page, the zip itself, the web server's .gz copies).
        published = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                           and p.name not in ("index.html", archive.name) and p.suffix != ".gz")
        assert published == sorted(tutorial.files()), f"{tutorial.slug}: the build publishes {published}"
        with zipfile.ZipFile(archive) as z:
            assert z.testzip() is None
            assert sorted(z.namelist()) == published, f"{archive.name}: {z.namelist()} != {published}"
            for name in published:
                assert z.read(name) == (folder / name).read_bytes(), f"{archive.name}: {name} differs"


def test_zip_is_reproducible_and_keeps_executable_bits(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o755)
    (src / "sub").mkdir()
    (src / "sub" / "data.txt").write_text("x\n")
    names = ["sub/data.txt", "run.sh"]
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    downloads.write_zip(src, names, src, a)
    downloads.write_zip(src, list(reversed(names)), src, b)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert z.namelist() == ["run.sh", "sub/data.txt"]
        assert (z.getinfo("run.sh").external_attr >> 16) & 0o777 == 0o755
        assert (z.getinfo("sub/data.txt").external_attr >> 16) & 0o777 == 0o644


def test_links_to_published_files_download():
    files = {"03-resnet-ddp": {"train_ddp.py", "job.sh"}, "05-datasets": {"scow_identity.json"}}
    html = ('<a href="train_ddp.py">a</a> <a href="../05-datasets/scow_identity.json#x">b</a> '
            '<a href="../04-x/">c</a> <a href="https://example.org/train_ddp.py">d</a> '
            '<a class="k" href="job.sh" download>e</a> <a href="missing.py">f</a>')
    out = downloads.add_download(html, "tutorials/03-resnet-ddp/", files)
    assert out == ('<a href="train_ddp.py" download>a</a> <a href="../05-datasets/scow_identity.json#x" download>b</a> '
                   '<a href="../04-x/">c</a> <a href="https://example.org/train_ddp.py">d</a> '
                   '<a class="k" href="job.sh" download>e</a> <a href="missing.py">f</a>')
    # The English page links the shared files above its own folder.
    en = downloads.add_download('<a href="../../../tutorials/03-resnet-ddp/job.sh">j</a>',
                                "en/tutorials/03-resnet-ddp/", files)
    assert en.endswith(" download>j</a>")


def test_every_file_link_on_tutorial_pages_downloads(built):
    checked = 0
    tutorials = registry()
    files = {t.slug: set(t.files()) for t in tutorials.values()}
    for tutorial in tutorials.values():
        for lang in LANGS:
            page = built.page(lang, tutorial.path.rstrip("/"))
            for a in BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("article a[href]"):
                href = a["href"].split("#")[0]
                target = (page.parent / href).resolve() if href and not re.match(r"^[a-z]+:", href) else None
                if target is None or not target.is_file() or target.suffix == ".html":
                    continue
                rel = target.relative_to(built.site.resolve()).as_posix().split("/")
                if rel[0] == "tutorials" and ("/".join(rel[2:]) in files.get(rel[1], ()) or rel[-1].endswith(".zip")):
                    assert a.has_attr("download"), f"{page}: {a['href']} opens instead of downloading"
                    checked += 1
    assert checked, "no file link found on the tutorial pages"
