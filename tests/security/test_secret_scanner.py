"""The scanner itself: it finds planted credentials in every form a file may hold them, and stays quiet on clean
files and on the public dummy credentials local clouds use."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

from exposure import fake_credentials, scan


def test_fake_credentials_are_distinct_and_aws_shaped() -> None:
    one, two = fake_credentials(), fake_credentials()
    assert one != two
    assert one["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(one["AWS_ACCESS_KEY_ID"]) == 20
    assert len(one["AWS_SECRET_ACCESS_KEY"]) == 40 and len(one["AWS_SESSION_TOKEN"]) > 100


def test_planted_credentials_are_found_in_every_form(tmp_path: Path) -> None:
    creds = fake_credentials()
    secret, token, key = creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"], creds["AWS_ACCESS_KEY_ID"]
    plants = {
        "notebook.ipynb": json.dumps({"outputs": [{"text": f"env: {token}"}]}),
        "page.html": f"<pre>{quote(secret, safe='')}</pre>",
        "nested/log.txt": f"2026 INFO request signed with {key}\n",
        "b64.txt": base64.b64encode(secret.encode()).decode(),
        "ini.cfg": "[default]\naws_secret_access_key = AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd\n",
        "partial.txt": f"truncated: {secret[:24]}",
        "temporary.json": json.dumps({"SessionToken": "ASIA" + "B" * 16}),
        "binary.bin": b"\x00\x01".decode("latin-1") + secret,
    }
    for name, text in plants.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = {f.path.name for f in scan([tmp_path], creds)}
    assert found == {Path(n).name for n in plants}


def test_clean_files_and_dummy_credentials_pass(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text('aws_access_key_id="testing", aws_secret_access_key="testing"\n'
                                     "AKIA is a prefix; AKIA123 is too short\n")
    (tmp_path / "report.html").write_text("<p>validation error 0.05</p>")
    assert scan([tmp_path], fake_credentials()) == []


def test_loopback_addresses() -> None:
    from exposure import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.1", "::ffff:192.0.2.1"]))
