"""Issue 19: what drmodel says is true. Each test drives the CLI as a user does."""

from __future__ import annotations

import json

from drmodel.testing.synth import drfc_prefix, legacy_bucket, put_all
from helpers import cli

SCALE = 0.002


def test_ls_of_a_misspelt_model_is_not_found_and_names_the_close_ones(moto_buckets):
    """`ls s3://BUCKET/Apex-Huntr` once listed every model of the bucket and exited 0."""
    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    code, out, err = cli("ls", f"s3://{src}/Apex-Huntr")
    assert code == 3 and out == "", (code, out, err)
    assert "Apex-Huntr" in err and "did you mean" in err and "Apex-Hunter" in err
    code, out, _ = cli("ls", f"s3://{src}/Apex-Hunter", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["Apex-Hunter"]  # not Apex-Hunter-2


def test_a_trailing_slash_names_a_prefix_model_as_the_readme_says(moto_buckets):
    """README: `s3://BUCKET/PREFIX/` is the prefix layout, also in an aws-deepracer-* bucket."""
    client, _, dst = moto_buckets
    put_all(client, dst, drfc_prefix(dst, "rl-deepracer-sagemaker-1", scale=SCALE))
    for address in (f"s3://{dst}/rl-deepracer-sagemaker-1/", f"s3://{dst}/rl-deepracer-sagemaker-1"):
        code, out, err = cli("show", address, "--json")
        assert code == 0, (address, err)
        assert json.loads(out)["layout"] == "prefix", address


def test_a_half_finished_create_copy_is_advised_to_be_rerun(moto_buckets):
    """A `--create` copy stopped before its last step leaves a training prefix without the console metadata (it is
    written last): `check` must advise to rerun the copy, not that the metadata "was deleted"."""
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    code, _, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--create", "--yes",
                       "--account-id", "123456789012", "--checkpoint", "all")
    assert code == 0, err
    for key in ("model-metadata/Apex-Hunter/model_metadata.json", "reward-functions/Apex-Hunter/reward_function.py"):
        client.delete_object(Bucket=dst, Key=key)  # as a copy interrupted before its last stage leaves it
    code, out, err = cli("check", f"s3://{dst}/Apex-Hunter")
    assert code != 0
    assert "rerun" in err and "copy" in err and "was deleted; restore it" not in err, err


def test_verify_names_the_proof_it_made_and_hash_makes_it_sha256(moto_buckets, tmp_path):
    """`verify` of a bucket against its pull once printed PROOF sha256 and "all files have the same sha256" while
    it compared MD5 ETags (its JSON had "sha256_a": null). Now each row names its real proof, and --hash reads
    and hashes what no stored checksum proves, so every row is a sha256."""
    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    model = f"s3://{src}/Apex-Hunter"
    code, _, err = cli("pull", model, str(tmp_path / "pulled"), "--checkpoint", "all")
    assert code == 0, err
    code, out, _ = cli("verify", model, str(tmp_path / "pulled"), "--json")
    rows = json.loads(out)["files"]
    assert code == 0 and rows
    for row in rows:
        assert row["status"] == "same"
        if row["proof"] == "sha256":  # only when both sha256 values are known
            assert row["sha256_a"] and row["sha256_b"], row
        else:
            assert row["proof"] in ("MD5 ETag", "S3 SHA256 checksum", "S3 composite checksum", "yaml values"), row
    assert {r["proof"] for r in rows} & {"MD5 ETag"}, rows  # moto's objects carry MD5 ETags, no SHA256
    code, out, _ = cli("verify", model, str(tmp_path / "pulled"))
    assert code == 0 and "IDENTICAL" in out and "by MD5 ETag" in out and "have the same sha256" not in out, out
    code, out, _ = cli("verify", model, str(tmp_path / "pulled"), "--hash", "--json")
    rows = json.loads(out)["files"]
    assert code == 0 and all(r["proof"] in ("sha256", "yaml values") and r["sha256_a"] == r["sha256_b"]
                             and r["sha256_a"] for r in rows), rows


def test_a_server_side_copy_does_not_claim_a_sha256_it_never_computed(moto_buckets, tmp_path):
    """After a copy inside S3, "Done" named sha256 as the proof although no byte passed through drmodel."""
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    args = ["copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--create", "--yes",
            "--account-id", "123456789012", "--checkpoint", "all"]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "Bytes: server-side copy" in out and "verified by sha256" not in out, out
    assert "by S3 copy" in out, out
    code, _, err = cli("ls", f"s3://{dst}")  # the copy is complete and readable
    assert code == 0, err


def test_a_relayed_copy_names_the_proofs_in_its_json(moto_buckets):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--create", "--yes",
                         "--account-id", "123456789012", "--relay", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc["proofs"]) == set(doc["written"]) and doc["written"]
    assert set(doc["proofs"].values()) <= {"CRC32 checked by S3", "the source's checksum, checked by S3",
                                           "SHA256 of every part, checked by S3"}, doc["proofs"]
