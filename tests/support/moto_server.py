"""moto's S3 server, with its conditional PUT made atomic as it is on real S3.

moto checks `If-None-Match: *` and then stores the object in two steps, on a thread per
request, so two racing writers of a new key can both be told they created it. The S3 tests
race writers on purpose (create-if-absent is what keeps a blob written once), so this
launcher serialises moto's PutObject handler; everything else is moto as installed.

Usage: python3 tests/support/moto_server.py -H 127.0.0.1 -p PORT (the `moto_server` flags).
"""

import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_put_lock = threading.Lock()
_put_object = getattr(S3Response, "put_object", None)


def _atomic_put_object(self, *args, **kwargs):
    with _put_lock:
        return _put_object(self, *args, **kwargs)


if _put_object is None:
    # Another moto than the 5.x this was written against: run it as it is.
    print("moto_server.py: S3Response.put_object not found; conditional PUT left as moto has it", file=sys.stderr)
else:
    S3Response.put_object = _atomic_put_object

if __name__ == "__main__":
    main(sys.argv[1:])
