"""One password masking for every printed or logged DSN and error message (issue 15: the CLI's
own masking left ``?password=hunter2`` in a DSN that the bundle store's masked)."""

from __future__ import annotations

import pytest

from intel_assets.stores.redaction import redact_dsn, redact_text


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://intel:hunter2@db:5432/intel", "postgresql://intel:***@db:5432/intel"),
    ("postgresql://intel@db/intel?sslmode=verify-full&password=hunter2",
     "postgresql://intel@db/intel?sslmode=verify-full&password=***"),
    ("postgresql://u:p%40ss@h/d?PASSWORD=x", "postgresql://u:***@h/d?PASSWORD=***"),
    ("host=db user=intel password=hunter2 dbname=intel",
     "host=db user=intel password=*** dbname=intel"),
    ("https://default:s3cret@ch.example:8443/", "https://default:***@ch.example:8443/"),
    ("sqlite:///var/lib/intel/bundles.sqlite3", "sqlite:///var/lib/intel/bundles.sqlite3"),
])
def test_redact_dsn_masks_every_password_form(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown
    assert "hunter2" not in redact_dsn(dsn) and "s3cret" not in redact_dsn(dsn)


def test_redact_text_masks_urls_quoted_inside_a_message() -> None:
    message = ("connection to http://default:s3cret@ch:8123/ failed; retried "
               "postgresql://a:hunter2@db/x?password=hunter2")
    masked = redact_text(message)
    assert "s3cret" not in masked and "hunter2" not in masked
    assert masked == ("connection to http://default:***@ch:8123/ failed; retried "
                      "postgresql://a:***@db/x?password=***")
