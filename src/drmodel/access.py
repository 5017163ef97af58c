"""How one side reaches S3: a profile, and the endpoint and region that override the profile's (as the AWS CLI's
`--profile`, `--endpoint-url` and `--region` do).

Every library function that takes a profile (`profile=`, `source_profile=`, `a_profile=`, ...) takes an Access as
well: `api.ls("s3://bucket", profile=Access("racer", endpoint_url="http://127.0.0.1:9000"))`. A plain string is the
profile alone, as before.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    profile: str | None = None  # None: the AWS environment variables and default chain (AWS_PROFILE included)
    endpoint_url: str | None = None  # None: the profile's endpoint_url, AWS_ENDPOINT_URL(_S3), else AWS's
    region: str | None = None  # None: the profile's region, AWS_REGION / AWS_DEFAULT_REGION, else us-east-1

    @classmethod
    def of(cls, value: Access | str | None) -> Access:
        """An Access from what a caller passed as a profile: an Access, a profile name, or None."""
        return value if isinstance(value, Access) else cls(profile=value or None)

    @property
    def given(self) -> bool:
        """Anything chosen beyond the AWS environment's defaults."""
        return bool(self.profile or self.endpoint_url or self.region)

    def or_else(self, other: Access) -> Access:
        """This Access, each field it leaves unset taken from `other`."""
        return Access(self.profile or other.profile, self.endpoint_url or other.endpoint_url,
                      self.region or other.region)


AccessLike = Access | str | None  # what the library's `profile` parameters take
