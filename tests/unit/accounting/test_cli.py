"""``visiongate keys|usage|db`` against a real database, through the real entry point."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from visiongate.accounting import Accounts, UsageRecord
from visiongate.accounting.keystore import KeySpec
from visiongate.accounting.migrations import LATEST
from visiongate.cli import main
from visiongate.settings import load_settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("VISIONGATE_DATABASE_URL", "VISIONGATE_DATA_DIR", "VISIONGATE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    path.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n')
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_lifecycle(config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "db", "upgrade", "--config", config)
    assert code == 0 and f"schema version 0 -> {LATEST}" in out and "cli.db" in out
    code, out, _ = _run(
        capsys,
        "keys",
        "create",
        "--config",
        config,
        "--name",
        "ci",
        "--models",
        "gpt-4o*, local/*",
        "--rpm",
        "30",
        "--tpm",
        "9000",
        "--budget-usd",
        "5",
        "--expires",
        "30d",
    )
    assert code == 0 and "30 rpm, 9000 tpm, $5 budget, expires" in out
    key = next(line.strip() for line in out.splitlines() if line.strip().startswith("vg-"))
    assert len(key) >= 3 + 43

    code, out, _ = _run(capsys, "keys", "create", "--config", config, "--name", "b", "--json")
    second = json.loads(out)
    assert second["key"].startswith("vg-") and second["models"] is None

    code, out, _ = _run(capsys, "keys", "list", "--config", config)
    assert code == 0 and "ci" in out and "gpt-4o*,local/*" in out and key[:11] in out
    assert key not in out and second["key"] not in out

    code, out, _ = _run(capsys, "keys", "list", "--config", config, "--json")
    listed = {r["name"]: r for r in json.loads(out)}
    assert listed["ci"]["rpm"] == 30 and listed["ci"]["state"] == "active"

    code, out, _ = _run(capsys, "keys", "revoke", "--config", config, listed["ci"]["prefix"])
    assert code == 0 and "Revoked" in out
    code, out, _ = _run(capsys, "keys", "list", "--config", config, "--active")
    assert "ci " not in out and "b " in out

    code, _, err = _run(capsys, "keys", "revoke", "--config", config, "key_nothing")
    assert code == 2 and "no key matches" in err
    code, _, err = _run(capsys, "keys", "revoke", "--config", config, key + "x")
    assert code == 2 and key not in err

    code, out, _ = _run(capsys, "db", "upgrade", "--config", config)
    assert "up to date" in out
    assert key.encode() not in (tmp_path / "cli.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rpm", "0"], "--rpm: rpm must be a positive integer"),
        (["--budget-usd", "-1"], "--budget-usd"),
        (["--expires", "soon"], "--expires: invalid duration"),
        (["--models", " , "], "--models"),
    ],
)
def test_create_refuses_bad_values(
    config: str, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, _, err = _run(capsys, "keys", "create", "--config", config, "--name", "x", *args)
    assert code == 2 and says in err


async def _record_some(config: str) -> str:
    accounts = Accounts(load_settings(config))
    await accounts.start()
    _, record = await accounts.keys.create(KeySpec("reporter"))
    for i, model in enumerate(["gpt-4o", "gpt-4o", "local/ocr"]):
        accounts.record(
            UsageRecord(f"r{i}", record.id, model, "p", None, 200, None, 100, 10, cost_usd=0.5)
        )
    await accounts.close()
    return record.id


def test_usage_report(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "usage", "--config", config)
    assert code == 0 and "No requests in the last 7d" in out
    key_id = asyncio.run(_record_some(config))
    code, out, _ = _run(capsys, "usage", "--config", config)
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["gpt-4o"][1:] == ["2", "0", "200", "20", "0", "1.0000"]
    assert lines["TOTAL"][1] == "3"
    code, out, _ = _run(capsys, "usage", "--config", config, "--by", "key", "--json")
    assert (
        json.loads(out)[0] | {"group": key_id, "name": "reporter", "requests": 3}
        == (json.loads(out)[0])
    )
    code, _, err = _run(capsys, "usage", "--config", config, "--since", "yesterday")
    assert code == 2 and "--since" in err
