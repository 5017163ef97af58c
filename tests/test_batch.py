"""Many models in one command (issue 20): `drmodel copy CONTAINER CONTAINER --all | --only`, on SeaweedFS with two
accounts: one plan, one confirmation, each model to its own place, a failed model does not stop the others, a
report (text, --json, file), exit code 12 for "some failed", and a rerun that finishes what is left."""

from __future__ import annotations

import json
from pathlib import Path

from drmodel import api
from drmodel.testing.synth import legacy_bucket, legacy_keys, legacy_prefix, placeholder, put_all, synth_model
from helpers import cli, snapshot

EXTRA = ("Slowpoke", "Zigzag-7")


def _populate(acc, *, scale: float = 0.02) -> dict[str, bytes]:
    """The source account's console bucket: Apex-Hunter, Apex-Hunter-2 and two more models."""
    objects = legacy_bucket(acc.source_bucket, scale=scale)
    for n, name in enumerate(EXTRA):
        prefix = legacy_prefix("123456789012", f"2020060{n + 1}101010", f"0000000{n}-1111-2222-3333-444444444444")
        objects.update(legacy_keys(name, prefix, synth_model(name, bucket=acc.source_bucket, prefix=prefix,
                                                             timestamp=f"2020060{n + 1}101010", scale=scale,
                                                             seed=10 + n)))
    put_all(acc.source_client, acc.source_bucket, objects)
    return objects


def _copy(acc, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return cli("copy", f"s3://{acc.source_bucket}", f"s3://{acc.target_bucket}", "--source-profile", "src",
               "--target-profile", "dst", "--account-id", "210987654321", "--backup-to", str(tmp_path / "bk"),
               "--report", str(tmp_path / "report.json"), "--checkpoint", "all", *extra)


def _same(acc, name: str) -> bool:
    report = api.verify(f"s3://{acc.source_bucket}/{name}", f"s3://{acc.target_bucket}/{name}", a_profile="src",
                        b_profile="dst")
    return bool(report.identical)


def test_every_model_of_a_console_bucket_in_one_command_then_a_rerun_skips_them(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    code, out, err = _copy(acc, tmp_path, "--all", "--yes")
    assert code == 0, err
    assert "Plan: copy 4 models" in out
    for name in ("Apex-Hunter", "Apex-Hunter-2", *EXTRA):
        assert f"ok    {name}: " in out
        assert _same(acc, name), name  # checkpoints, metadata, reward function; training params rewritten
    assert "Done: 4 copied of 4 models" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["copied"] == 4 and report["exit_code"] == 0
    assert {m["name"]: m["status"] for m in report["models"]} == dict.fromkeys(
        ("Apex-Hunter", "Apex-Hunter-2", *EXTRA), "copied")
    assert all(m["proofs"] and m["written"] for m in report["models"])
    # each model got its own new training prefix in the target, as the console names them
    prefixes = {m["target"] for m in report["models"]}
    assert len(prefixes) == 4
    before = snapshot(acc.target_client, acc.target_bucket)
    code, out, err = _copy(acc, tmp_path, "--all", "--yes")
    assert code == 0, err
    assert "Done: 4 up to date of 4 models" in out
    assert snapshot(acc.target_client, acc.target_bucket) == before  # the rerun wrote nothing


def test_a_failed_model_does_not_stop_the_others_and_the_exit_code_says_some_failed(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    # a broken model: its metadata is not JSON, so its check fails and planning refuses it
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="model-metadata/Slowpoke/model_metadata.json",
                                 Body=b"{not json")
    # a model another run is writing: its target lock is held, so its run fails (LOCKED) after planning
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Zigzag-7"))
    batch = api.plan_batch(api.BatchRequest(api.ModelRef(f"s3://{acc.source_bucket}", "src"),
                                            api.ModelRef(f"s3://{acc.target_bucket}", "dst"),
                                            account_id="210987654321"))
    zig = next(e.plan for e in batch.entries if e.name == "Zigzag-7")
    assert zig is not None and zig.lock is not None
    from drmodel.lock import model_lock

    with model_lock(zig.target_store, zig.lock.key, "copy"):  # held for the whole run below
        code, out, err = _copy(acc, tmp_path, "--all", "--yes", "--json")
    assert code == 12, err
    doc = json.loads(out)
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name["Apex-Hunter"]["status"] == by_name["Apex-Hunter-2"]["status"] == "copied"
    assert by_name["Slowpoke"]["status"] == "failed" and by_name["Slowpoke"]["exit_code"] == 5
    assert by_name["Zigzag-7"]["status"] == "failed" and by_name["Zigzag-7"]["exit_code"] == 10
    assert by_name["Zigzag-7"]["fix"]
    assert doc["counts"] == {"copied": 2, "up to date": 0, "failed": 2, "interrupted": 0, "not started": 0}
    assert json.loads((tmp_path / "report.json").read_text())["models"] == doc["models"]
    assert _same(acc, "Apex-Hunter") and _same(acc, "Apex-Hunter-2")
    assert "Traceback" not in err
    # the lock is gone: a rerun finishes what is left (the placeholder is replaced, after a backup)
    code, out, err = _copy(acc, tmp_path, "--all", "--yes")
    assert code == 12, err  # Slowpoke is still broken
    assert "ok    Zigzag-7: " in out and "2 up to date" in out and "1 copied" in out
    assert _same(acc, "Zigzag-7")


def test_only_patterns_choose_models_and_say_which_matched_nothing(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    code, out, err = _copy(acc, tmp_path, "--only", "Apex-*", "Nobody*", "--yes")
    assert code == 0, err
    assert "Plan: copy 2 models" in out and "--only 'Nobody*' matched no model" in out
    keys = snapshot(acc.target_client, acc.target_bucket)
    assert any("model-metadata/Apex-Hunter-2/" in k for k in keys)
    assert not any("Slowpoke" in k or "Zigzag" in k for k in keys)


def test_dry_run_shows_one_table_and_writes_nothing(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter"))
    before = snapshot(acc.target_client, acc.target_bucket)
    code, out, err = _copy(acc, tmp_path, "--all", "--dry-run")
    assert code == 0, err
    assert "MODEL" in out and "RACES" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in (
        "Apex-Hunter", "Slowpoke")}
    assert " update (" in lines["Apex-Hunter"] and "overwritten" in lines["Apex-Hunter"]
    assert " new " in lines["Slowpoke"]
    assert snapshot(acc.target_client, acc.target_bucket) == before
    assert not (tmp_path / "report.json").exists()


def test_an_overwrite_without_yes_and_without_a_terminal_is_refused_before_any_write(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter"))
    before = snapshot(acc.target_client, acc.target_bucket)
    code, out, err = _copy(acc, tmp_path, "--all")
    assert code == 7
    assert "refusing" in err and "Traceback" not in err
    assert snapshot(acc.target_client, acc.target_bucket) == before


def test_an_ambiguous_model_is_left_out_with_its_reason(two_accounts, tmp_path):
    acc = two_accounts
    objects = _populate(acc)
    # a second training job tied to Apex-Hunter (its training params name the model's metadata)
    second = legacy_prefix("123456789012", "20200601000000", "99999999-1111-2222-3333-444444444444")
    put_all(acc.source_client, acc.source_bucket, {k: v for k, v in legacy_keys(
        "Apex-Hunter", second, synth_model("Apex-Hunter", bucket=acc.source_bucket, prefix=second,
                                           timestamp="20200601000000", scale=0.02, seed=5)).items()
        if k.startswith(second)})
    assert objects
    code, out, err = _copy(acc, tmp_path, "--all", "--yes")
    assert code == 12, err
    assert "FAILED Apex-Hunter: 2 training jobs or exports" in out and "--training-job" in out
    assert "ok    Apex-Hunter-2: " in out


def test_a_bucket_into_a_folder_of_archives_and_back_into_a_drfc_bucket(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    folder = tmp_path / "models"
    code, out, err = cli("copy", f"s3://{acc.source_bucket}", str(folder), "--source-profile", "src", "--all")
    assert code == 3 and f"folder {folder} does not exist - create it first" in err
    folder.mkdir()
    code, out, err = cli("copy", f"s3://{acc.source_bucket}", str(folder), "--source-profile", "src", "--all",
                         "--archives", "--checkpoint", "all", "--report", str(tmp_path / "r1.json"))
    assert code == 0, out + err
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.tar.gz" for n in ("Apex-Hunter", "Apex-Hunter-2", *EXTRA))
    # back out of the archives into the other account's bucket, as DRfC keeps models (one prefix each)
    code, out, err = cli("copy", str(folder), f"s3://{acc.target_bucket}/models/", "--target-profile", "dst",
                         "--target-layout", "prefix", "--only", "Apex*", "--yes", "--checkpoint", "all",
                         "--report", str(tmp_path / "r2.json"))
    assert code == 0, out + err
    keys = snapshot(acc.target_client, acc.target_bucket)
    assert any(k.startswith("models/Apex-Hunter/model/") for k in keys)
    assert any(k.startswith("models/Apex-Hunter-2/model/") for k in keys)
    report = api.verify(str(folder / "Apex-Hunter.tar.gz"), f"s3://{acc.target_bucket}/models/Apex-Hunter",
                        b_profile="dst")
    assert report.identical


def test_a_single_model_address_with_all_is_a_usage_error(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    code, out, err = cli("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}",
                         "--source-profile", "src", "--target-profile", "dst", "--all")
    assert code == 2
    assert "is one model, not a container" in err and len(err.strip().splitlines()) == 1


def test_check_and_diff_of_two_buckets_one_row_per_model(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    code, out, err = _copy(acc, tmp_path, "--only", "Apex-*", "--yes")
    assert code == 0, err
    a, b = f"s3://{acc.source_bucket}", f"s3://{acc.target_bucket}"
    code, out, err = cli("check", a, "--profile", "src")
    assert code == 0, err
    assert "Check of 4 models" in out and "4 ok, 0 with errors or unreadable, of 4 models." in out
    code, out, err = cli("diff", a, b, "--source-profile", "src", "--target-profile", "dst")
    assert code == 8, err  # Slowpoke and Zigzag-7 are only in A
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "same weights" in rows["Apex-Hunter"] and "same weights" in rows["Apex-Hunter-2"]
    assert f"only in {a}" in rows["Slowpoke"]
    assert "2 of 4 models race the same weights in both" in out
    # Slowpoke's metadata in A is broken
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="model-metadata/Slowpoke/model_metadata.json",
                                 Body=b"{not json")
    code, out, err = cli("check", a, "--profile", "src", "--json")
    assert code == 12, err
    doc = json.loads(out)
    assert doc["failed"] == 1 and doc["ok"] == 3
    assert next(m for m in doc["models"] if m["name"] == "Slowpoke")["check"]["ok"] is False


def test_a_bug_in_one_models_planning_leaves_the_others_planned(two_accounts, tmp_path, monkeypatch):
    """An unexpected exception while planning one model is that model's failure (exit 12, its line names it a bug),
    not the batch's."""
    acc = two_accounts
    _populate(acc)
    from drmodel.planning import batch

    real = batch.plan_between

    def flaky(kind, src, tgt, **kw):
        if src.name == "Slowpoke":
            raise RuntimeError("boom")
        return real(kind, src, tgt, **kw)

    monkeypatch.setattr(batch, "plan_between", flaky)
    code, out, err = _copy(acc, tmp_path, "--all", "--yes")
    assert code == 12, err
    assert "FAILED Slowpoke: RuntimeError: boom - this is a drmodel bug" in out
    assert "Done: 3 copied, 1 failed of 4 models" in out
    assert "Traceback" not in out + err


def test_one_model_options_with_all_are_usage_errors(two_accounts, tmp_path):
    acc = two_accounts
    for extra in (("--name", "X"), ("--training-job", "2020")):
        code, out, err = _copy(acc, tmp_path, "--all", *extra)
        assert code == 2, err
        assert f"{extra[0]} goes with one model, not with --all or --only" in err and len(err.strip().splitlines()) == 1
