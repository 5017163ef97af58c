"""Issue 19: what drmodel says is true. Each test drives the CLI as a user does."""

from __future__ import annotations

import json

from helpers import cli

from drmodel.testing.synth import drfc_prefix, legacy_bucket, put_all

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
