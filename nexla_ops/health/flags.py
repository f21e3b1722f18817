"""health_check's argument types and its --credentials flags: parsed and refused here, so a
bad value is a one-line UNKNOWN (exit 3) before anything is sent."""

from __future__ import annotations

import argparse

import nexla_ops

from .settings import ConfigProblem, parse_rate


def webhook_url_arg(text):
    try:
        return nexla_ops.validate_api_url(text)
    except nexla_ops.ConfigError:
        # Not echoed: a webhook URL usually carries its secret token.
        raise argparse.ArgumentTypeError("expected an http(s) URL with a host (the value is "
                                         "not shown: webhook URLs hold secrets)") from None


def duration_arg(text):
    try:
        return float(nexla_ops.parse_duration(text))
    except nexla_ops.OpsError:
        raise argparse.ArgumentTypeError(f"expected a duration like 90, 30m, 24h or 1d, got {text!r}") from None


def rate_arg(text):
    try:
        return parse_rate(text, "rate")
    except ConfigProblem:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}") from None


def expiry_field_arg(text):
    # The key is echoed in messages and matched against API keys: printable, and short.
    if not text or len(text) > 200 or not text.isprintable() or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a key of credentials_non_secure_data (1-200 printable characters, no "
            f"padding), got {nexla_ops.one_line(repr(text), 60)}")
    return text


def add_credential_args(parser) -> None:
    creds = parser.add_argument_group("credentials")
    creds.add_argument("--credentials", action="store_true",
                       help="also judge each credential the chosen flows use, once: its "
                            "verified_status from the credential listing (no call per "
                            "credential); a failing one is CRITICAL and names the flows it "
                            "breaks; one only paused flows use is reported, not counted")
    creds.add_argument("--expiry-field", action="append", type=expiry_field_arg, metavar="KEY",
                       help="with --credentials: the credentials_non_secure_data key where your "
                            "team records a credential's expiry (ISO date, date-time or epoch "
                            "seconds); Nexla publishes no expiry field (repeatable)")
    creds.add_argument("--expiry-warn", type=duration_arg, metavar="DURATION",
                       help="with --expiry-field: an expiry less than this away is WARNING, "
                            "one that has passed CRITICAL (default 7d; 0: no warning)")


def credential_settings(args, flows: bool):
    """The --credentials check's settings (credentials.CredentialSettings), None without the
    flag; ConfigProblem for flags that need it, or it without a flow selection."""
    if (args.expiry_field or args.expiry_warn is not None) and not args.credentials:
        raise ConfigProblem("--expiry-field and --expiry-warn need --credentials")
    if not args.credentials:
        return None
    if not flows:
        raise ConfigProblem("--credentials checks the credentials of the chosen flows: choose "
                            "them too (--config FILE, --all, --flow ID, --tag TAG or --project ID)")
    from .credentials import DEFAULT_EXPIRY_WARN, CredentialSettings

    warn = DEFAULT_EXPIRY_WARN if args.expiry_warn is None else args.expiry_warn
    return CredentialSettings(tuple(dict.fromkeys(args.expiry_field or ())), warn)
