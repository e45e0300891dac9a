"""``sightkit search index|query|remove``: results on stdout, JSON, the HTML page, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path


def test_index_query_html_and_remove(cli, search_bundle: Path, catalogue: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    code, out, _ = cli("search", "index", search_bundle, catalogue, "--db", db)
    assert code == 0 and "8 images (8 added, 0 updated, 0 unchanged, 0 removed)" in out
    code, out, _ = cli("search", "index", search_bundle, catalogue, "--db", db, "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 8

    page = tmp_path / "results.html"
    code, out, err = cli("search", "query", "--db", db, catalogue / "shoes" / "2.png", "-k", "3", "--html", page)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("2.png") and lines[1].split()[:2] == ["1", "1.0000"] and len(lines) == 4
    html = page.read_text()
    assert html.count("data:image/jpeg;base64,") == 4 and "shoes/2.png" in html

    code, out, _ = cli("search", "query", "--db", db, catalogue / "bags", "-k", "2", "--json")
    answers = json.loads(out)
    assert code == 0 and len(answers) == 4
    assert all(a["results"][0]["path"] == os.path.abspath(a["query"]) for a in answers)

    code, out, _ = cli("search", "remove", "--db", db, catalogue / "bags")
    assert code == 0 and "4 entries removed, 4 left" in out
    (catalogue / "shoes" / "0.png").unlink()
    code, out, _ = cli("search", "remove", "--db", db, "--missing", "--json")
    assert code == 0 and json.loads(out) == {"db": str(db), "removed": 1, "total": 3}


def test_model_mismatch_and_bad_input_are_one_error_line(cli, search_bundle: Path, other_bundle: Path,
                                                         catalogue: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    assert cli("search", "index", search_bundle, catalogue, "--db", db)[0] == 0

    def error(*args) -> str:
        code, out, err = cli(*args)
        assert code == 2 and out == "" and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        return err

    assert "built with the model" in error("search", "query", "--db", db, catalogue / "bags" / "4.png",
                                           "--bundle", other_bundle)
    assert "built with the model" in error("search", "index", other_bundle, catalogue, "--db", db)
    assert "catalogue not found" in error("search", "query", "--db", tmp_path / "none.db", catalogue)
    assert "not a folder" in error("search", "index", search_bundle, tmp_path / "none", "--db", tmp_path / "n.db")
    assert "no such bundle" in error("search", "index", tmp_path / "nomodel", catalogue, "--db", tmp_path / "n.db")
    assert ".html" in error("search", "query", "--db", db, catalogue, "--html", tmp_path / "out.txt")
    assert "PATH" in error("search", "remove", "--db", db)
    assert not (tmp_path / "n.db").exists()


def test_an_unreadable_image_exits_1_after_indexing_the_rest(cli, search_bundle: Path, catalogue: Path,
                                                             tmp_path: Path) -> None:
    (catalogue / "bags" / "broken.jpg").write_bytes(b"no")
    code, out, err = cli("search", "index", search_bundle, catalogue, "--db", tmp_path / "c.db")
    assert code == 1 and "8 images" in out and "could not be read" in err


def test_help_has_plain_metavars_and_fits_80_columns(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for action in ("index", "query", "remove"):
        code, out, _ = cli("search", action, "--help")
        assert code == 0
        for bad in ("<bool>", "<list[", "<path>", "<int>", "{", "...."):
            assert bad not in out, (action, bad)
        assert max(len(line) for line in out.splitlines()) <= 80


def test_serve_checks_the_catalogue_before_starting(cli, tmp_path: Path) -> None:
    code, out, err = cli("serve", "--catalog", tmp_path / "none.db")
    assert code == 2 and err.startswith("error: --catalog") and "catalogue not found" in err
