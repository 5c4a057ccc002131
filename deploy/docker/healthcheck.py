"""Container health check: GET the /readyz of the role this container runs; exit 0 or 1.

Standard library only, so a check costs a fraction of importing Maily. The role comes
from MAILY_ROLE (default api); a URL given as the first argument overrides it. The
side-port offsets mirror maily.kit.roles.ROLE_PORT_OFFSETS (a test keeps them equal).
"""

from __future__ import annotations

import os
import sys
import urllib.request

ROLE_PORT_OFFSETS = {
    "worker": 1,
    "sender": 2,
    "scheduler": 3,
    "analytics": 4,
    "ai": 5,
    "inbound": 6,
    "webhooks": 7,
    "tracking": 8,
}


def url_for(role: str, environ: dict[str, str]) -> str:
    if role == "api":
        port = int(environ.get("MAILY_API__PORT", "8000"))
    else:
        port = int(environ.get("MAILY_ROLES__HEALTH_BASE_PORT", "9100")) + ROLE_PORT_OFFSETS[role]
    return f"http://127.0.0.1:{port}/readyz"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else url_for(os.environ.get("MAILY_ROLE", "api"), dict(os.environ))
    # No proxy: the role listens on this host, whatever HTTP(S)_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
