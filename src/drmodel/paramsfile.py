"""training_params*.yaml: read with yaml.safe_load, rewritten line by line so quoting and booleans stay as they were.

Three writers meet here: the legacy console (`KEY: "value"`), DeepRacer-for-Cloud (`---` then `'KEY': 'value'`,
every key and value single-quoted, PyYAML's `default_style="'"`) and plain `yaml.dump` (`KEY: value`). A rewrite
changes the value of existing top-level `KEY: value` lines in whichever of these forms, and is then proven: the
result is parsed again and must equal the original document with exactly the wanted keys set to the wanted
values. A file that cannot be rewritten that way (flow style, a value over several lines) is an error, never
silently left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drmodel.errors import InvalidModelError

# The keys that name a model's home (its bucket, prefix and files): set for the target when a model moves, and
# left out when two copies are compared.
LOCATION_KEYS = ("SAGEMAKER_SHARED_S3_BUCKET", "SAGEMAKER_SHARED_S3_PREFIX", "MODEL_METADATA_FILE_S3_KEY",
                 "REWARD_FILE_S3_KEY", "METRICS_S3_BUCKET", "METRICS_S3_OBJECT_KEY", "SIMTRACE_S3_BUCKET",
                 "SIMTRACE_S3_PREFIX")

# One top-level `KEY: value` line. The key may be quoted ('KEY' or "KEY", as DRfC writes it); the value is a
# single-quoted scalar ('' escapes a quote), a double-quoted one, or a plain one (words whose first character is
# not '#', so that ` # comment` stays a comment); then an optional comment.
LINE_RE = re.compile(r"""^(?P<kq>['"]?)(?P<key>[A-Z0-9_]+)(?P=kq)(?P<sep>[ \t]*:[ \t]*)"""
                     r"""(?P<value>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|(?:[^ \t#'"][^ \t]*(?:[ \t]+[^ \t#][^ \t]*)*)?)"""
                     r"""(?P<end>[ \t]*(?:#.*)?)$""")
# The console's and DRfC's forms: every line `KEY: "value"`, `KEY: 'value'` or `'KEY': 'value'` (DRfC starts with
# a `---` line), no escapes. YAML reads such a line as exactly this string, so these files are read without
# importing PyYAML (a tenth of `drmodel ls`'s start-up).
QUOTED_RE = re.compile(r"""^(?:(?!(?:YES|NO|ON|OFF|TRUE|FALSE|NULL):)([A-Z_][A-Z0-9_]*)"""
                       r"""|'([A-Z0-9_]+)'|"([A-Z0-9_]+)"): (?:"([^"\\]*)"|'([^']*)')[ \t]*$""")


def load(data: bytes, where: str) -> dict[str, Any]:
    try:
        lines = [line for line in data.decode("utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError:
        lines = []
    if lines and lines[0] == "---":
        lines = lines[1:]
    simple = [QUOTED_RE.match(line) for line in lines]
    if lines and all(simple):
        return {next(k for k in m.group(1, 2, 3) if k is not None): next(v for v in m.group(4, 5) if v is not None)
                for m in simple if m}
    return safe_load(data, where)


def safe_load(data: bytes, where: str) -> dict[str, Any]:
    """The document as yaml.safe_load reads it (what the SimApp and DRfC read), always through PyYAML."""
    import yaml

    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidModelError(f"{where} is not valid YAML ({str(exc).splitlines()[0]})",
                                fix="fix or remove that file, then run the command again") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidModelError(f"{where} is not a YAML mapping", fix="fix or remove that file")
    return doc


# an unquoted value YAML reads back as this very string: no number, bool, null, indicator or sequence dash
PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*\Z")
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _plain(value: str) -> bool:
    return bool(PLAIN_RE.match(value)) and value.lower() not in YAML_WORDS


def _quoted(value: str, old: str) -> str:
    """value written in the style of the old value: single-quoted, double-quoted, or plain when YAML reads it back
    as this very string (else double-quoted)."""
    if old[:1] == "'":
        return "'" + value.replace("'", "''") + "'"
    if old[:1] == '"' or not old or not _plain(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def rewrite(data: bytes, values: Mapping[str, str], where: str = "training_params.yaml") -> bytes:
    """Set the top-level keys of `values` that the file has (keys it lacks are not added), line by line: each
    line keeps its key's quoting and its value's style. Both versions are parsed with yaml.safe_load and compared:
    only those keys may change, to exactly those values; otherwise InvalidModelError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidModelError(f"{where} is not UTF-8 text", fix="fix or remove that file") from None
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = LINE_RE.match(body)
        if m and m.group("key") in values:
            new = _quoted(values[m.group("key")], m.group("value"))
            kq = m.group("kq")
            line = f"{kq}{m.group('key')}{kq}{m.group('sep')}{new}{m.group('end')}" + line[len(body):]
        out.append(line)
    result = "".join(out).encode()
    before = safe_load(data, where)
    wanted = {**before, **{k: v for k, v in values.items() if k in before}}
    try:
        after: dict[str, Any] | None = safe_load(result, where)
    except InvalidModelError:  # e.g. a value that went on over the following lines
        after = None
    if after != wanted:
        keys = (sorted(k for k in values if k in before) if after is None else
                sorted(k for k in set(wanted) | set(after) if wanted.get(k) != after.get(k)))
        raise InvalidModelError(
            f"{where}: {', '.join(keys)} cannot be rewritten line by line (drmodel sets only `KEY: value` lines at "
            "the top level)", fix=f"write each as a one-line top-level `KEY: value` entry in {where} (as DRfC and "
            "the console write them), then run the command again")
    return result


def changed_keys(before: bytes, after: bytes) -> list[str]:
    """The top-level keys whose values differ between two versions of a file (both must parse)."""
    a, b = load(before, "before"), load(after, "after")
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def moved(data: bytes, where: str, *, bucket: str, prefix: str, metadata_key: str, reward_key: str,
          metrics_key: str) -> bytes:
    """The training params of a model that now lives in `bucket` with its training prefix `prefix` ("" at the
    bucket's root): every location key the file has is set for the new home. A metrics object the file places
    inside its own training prefix (DRfC: `<prefix>/metrics/TrainingMetrics.json`) keeps its place in the new
    prefix, where a copy puts the model's metrics/; any other goes to `metrics_key`, the layout's convention."""
    doc = load(data, where)
    old_prefix = str(doc.get("SAGEMAKER_SHARED_S3_PREFIX", "")).strip("/")
    old_metrics = str(doc.get("METRICS_S3_OBJECT_KEY", ""))
    if old_prefix and old_metrics.startswith(old_prefix + "/") and (
            doc.get("METRICS_S3_BUCKET") == doc.get("SAGEMAKER_SHARED_S3_BUCKET")):
        rel = old_metrics[len(old_prefix) + 1:]
        metrics_key = f"{prefix}/{rel}" if prefix else rel
    values = {"SAGEMAKER_SHARED_S3_BUCKET": bucket, "SAGEMAKER_SHARED_S3_PREFIX": prefix,
              "MODEL_METADATA_FILE_S3_KEY": metadata_key, "REWARD_FILE_S3_KEY": reward_key,
              "METRICS_S3_BUCKET": bucket, "METRICS_S3_OBJECT_KEY": metrics_key,
              "SIMTRACE_S3_BUCKET": bucket, "SIMTRACE_S3_PREFIX": prefix}
    return rewrite(data, values, where)
