"""drmodel's own config file: the DRoA deployments a racer uses. Never holds a password.

    # ~/.config/drmodel/config.toml   (or $DRMODEL_CONFIG)
    [droa.mine]
    site = "https://d1a2b3c4d5e6f7.cloudfront.net/"   # the deployment's web site: env.js is read from it
    username = "racer@example.com"
    # endpoint_url = "http://127.0.0.1:5000"          # only for a local stand-in: Cognito and S3 endpoint

The password comes from $DRMODEL_DROA_PASSWORD_<NAME> (NAME upper-cased, other characters as _), else
$DRMODEL_DROA_PASSWORD, else a prompt on the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from drmodel.errors import AccessDeniedError, InvalidModelError, NotFoundError, UsageError


@dataclass(frozen=True)
class Deployment:
    name: str
    site: str
    username: str
    endpoint_url: str | None = None

    @property
    def password_variable(self) -> str:
        return "DRMODEL_DROA_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def config_path() -> Path:
    if os.environ.get("DRMODEL_CONFIG"):
        return Path(os.environ["DRMODEL_CONFIG"]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "drmodel" / "config.toml"


def load_deployment(name: str) -> Deployment:
    path = config_path()
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise NotFoundError(f"no drmodel config file at {path}",
                            fix=f"create it with a [droa.{name}] section (site, username); see README") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidModelError(f"{path} is not valid TOML ({exc})", fix="fix the config file") from None
    section = doc.get("droa", {}).get(name)
    if not isinstance(section, dict):
        known = ", ".join(sorted(doc.get("droa", {}))) or "none"
        raise NotFoundError(f"no DRoA deployment {name!r} in {path} (known: {known})",
                            fix=f"add a [droa.{name}] section with site and username")
    for key in ("site", "username"):
        if not isinstance(section.get(key), str) or not section[key]:
            raise UsageError(f"[droa.{name}] in {path} lacks {key}", fix=f"add {key} = \"...\"")
    if "password" in section:
        raise UsageError(f"[droa.{name}] in {path} holds a password", fix="remove it: drmodel reads passwords from "
                         f"${Deployment(name, '', '').password_variable} or asks")
    return Deployment(name, section["site"], section["username"], section.get("endpoint_url"))


def password(dep: Deployment) -> str:
    for var in (dep.password_variable, "DRMODEL_DROA_PASSWORD"):
        if os.environ.get(var):
            return os.environ[var]
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Password for {dep.username} at DRoA deployment {dep.name}: ")
    raise AccessDeniedError(f"no password for DRoA deployment {dep.name!r}",
                            fix=f"set ${dep.password_variable} (or $DRMODEL_DROA_PASSWORD), or run on a terminal")
