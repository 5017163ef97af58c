"""drmodel's own config file: the DRoA deployments a racer uses. Never holds a password.

    # ~/.config/drmodel/config.toml (Linux; $XDG_CONFIG_HOME/drmodel/config.toml when set), or
    # ~/Library/Application Support/drmodel/config.toml (macOS), %APPDATA%\\drmodel\\config.toml (Windows);
    # or $DRMODEL_CONFIG
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


def config_dir() -> Path:
    """drmodel's folder of the platform's per-user configuration: $XDG_CONFIG_HOME/drmodel (an absolute path, else
    ~/.config/drmodel) on Linux and other POSIX systems, ~/Library/Application Support/drmodel on macOS,
    %APPDATA%\\drmodel on Windows."""
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return (Path(appdata) if appdata else Path.home() / "AppData" / "Roaming") / "drmodel"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "drmodel"
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config") / "drmodel"  # XDG: relative is ignored


def config_path() -> Path:
    """$DRMODEL_CONFIG, else config.toml in config_dir(); on macOS and Windows, a ~/.config/drmodel/config.toml
    written before drmodel followed the platform is still read when the platform's file does not exist."""
    if os.environ.get("DRMODEL_CONFIG"):
        return Path(os.environ["DRMODEL_CONFIG"]).expanduser()
    path = config_dir() / "config.toml"
    earlier = Path.home() / ".config" / "drmodel" / "config.toml"
    if sys.platform in ("win32", "darwin") and not path.exists() and earlier.is_file():
        return earlier
    return path


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
