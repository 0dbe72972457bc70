"""A client process for the reliability tests: N threads POST the same form at one instant.

Usage: python hammer.py '{"url": …, "cookie": [name, value] | null, "data": {…}, "threads": N,
"start_at": epoch seconds}'; prints the JSON list of status codes (0 for a transport failure).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from urllib.parse import urlsplit

import requests


def main() -> None:
    spec = json.loads(sys.argv[1])
    codes: list[int] = []
    lock = threading.Lock()
    origin = urlsplit(spec["url"])
    headers = {"Cookie": "=".join(spec["cookie"])} if spec["cookie"] else {}
    sessions = []
    for _ in range(spec["threads"]):
        s = requests.Session()
        s.headers.update(headers)
        s.get(f"{origin.scheme}://{origin.netloc}/healthz", timeout=30)  # open the connection
        sessions.append(s)

    def worker(s: requests.Session) -> None:
        delay = spec["start_at"] - time.time()
        if delay > 0:
            time.sleep(delay)
        try:
            code = s.post(spec["url"], data=spec["data"], timeout=60, allow_redirects=False)
            status = code.status_code
        except requests.RequestException:
            status = 0
        with lock:
            codes.append(status)

    threads = [threading.Thread(target=worker, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(codes))


if __name__ == "__main__":
    main()
