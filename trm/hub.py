"""Reaching the Hugging Face Hub: fail at once, in one line, when it cannot be reached."""

from __future__ import annotations

import os
import socket

from trm.errors import TrmError


def require_hub(what: str, instead: str) -> None:
    """Raise ``TrmError`` at once when huggingface.co is unreachable or ``HF_HUB_OFFLINE`` is
    set (instead of the hub client's retries); ``what`` is being downloaded, ``instead`` the
    offline alternative."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        if offline:
            raise OSError("HF_HUB_OFFLINE is set")
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError as e:
        raise TrmError(
            f"cannot reach huggingface.co to download {what} (offline? "
            f"{e.strerror or e.args[0] if e.args else type(e).__name__}); {instead}"
        ) from None
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
