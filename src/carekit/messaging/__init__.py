"""Real channels: email over SMTP, 90+ services through Apprise, message templates, receipts.

* :class:`Templates` — the words of each touchpoint per channel and locale, Jinja2 files
  rendered in Jinja2's sandbox and checked against the journeys at start-up (extra
  ``carekit[templates]``).
* :class:`EmailChannel` — email over SMTP (STARTTLS or TLS, login, plain-text and HTML
  parts, a ``Message-ID`` derived from the idempotency key), durable dedupe through
  ``sent_keys`` (extra ``carekit[email]``).
* :class:`AppriseChannel` — one carekit channel per Apprise URL: SMS gateways, Slack,
  Teams, Telegram, push… (extra ``carekit[apprise]``).
* :func:`load_config` and :func:`configure` — the channels from a TOML file and
  ``CAREKIT_*`` environment variables, read once and checked, secrets never shown.
* :class:`Receipt` and :func:`record_receipt` — a provider's webhook (bounced, delivered,
  read) as a journey event with a deterministic id.

Importing this package needs none of the optional dependencies; each is imported when the
part that needs it is made, and its absence is one clear error naming the extra.
"""

from carekit.messaging._apprise import AppriseChannel
from carekit.messaging._config import (
    AppriseSettings,
    EmailSettings,
    MessagingConfig,
    configure,
    load_config,
)
from carekit.messaging._errors import ConfigError, TemplateError
from carekit.messaging._receipts import Receipt, record_receipt
from carekit.messaging._smtp import EmailChannel, SMTPSettings, key_from_message_id, message_id
from carekit.messaging._templates import CONTEXT, Recipient, Templates, guaranteed_keys

__all__ = [
    "CONTEXT",
    "AppriseChannel",
    "AppriseSettings",
    "ConfigError",
    "EmailChannel",
    "EmailSettings",
    "MessagingConfig",
    "Receipt",
    "Recipient",
    "SMTPSettings",
    "TemplateError",
    "Templates",
    "configure",
    "guaranteed_keys",
    "key_from_message_id",
    "load_config",
    "message_id",
    "record_receipt",
]
