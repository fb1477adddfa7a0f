"""Credentials never leave the lane in clear: URLs in logs, status details and console lines.

A camera URL (``rtsp://user:pass@cam/stream``) or a broker URL with its
password ends up in error messages of OpenCV, paho and our own code, in the
retained ``status/<component>`` that staff tools and the HQ bridge read, and in
the journal. Everything that prints or publishes such text passes it through
``redact`` first; the root logger gets ``RedactingFilter``.

>>> redact("cannot open rtsp://admin:s3cr%40t@10.0.0.9:554/stream1")
'cannot open rtsp://admin:***@10.0.0.9:554/stream1'
>>> redact("mqtts://lane-3:pw@broker:8883 and http://host/path")
'mqtts://lane-3:***@broker:8883 and http://host/path'
"""

from __future__ import annotations

import logging
import re

#: scheme://user:password@ — the password is everything up to the last '@' before the host
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):[^\s/]*@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:***@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (arguments included) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if redact(str(exc)) != str(exc):  # the traceback text would print the URL again
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_redaction() -> None:
    """Redact every record that reaches the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
