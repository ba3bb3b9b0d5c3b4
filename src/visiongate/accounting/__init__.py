"""Accounts: API keys, per-key limits and usage records.

The request path needs only ``Accounts`` and the values it hands out; the modules behind
it (key store, limiters, usage writer, migrations) are importable for the CLI and tests.
"""

from visiongate.accounting.accounts import Accounts, Admission
from visiongate.accounting.keys import Principal
from visiongate.accounting.usage import UsageRecord

__all__ = ["Accounts", "Admission", "Principal", "UsageRecord"]
