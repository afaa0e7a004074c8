"""A bare mod_python header parser handler that tests the Apache harness.

It needs nothing from mod_pywebsocket, so test/httpd.py can be checked on its
own: GET /probe answers with facts about the Python that mod_python embeds,
one ``name=value`` line each; every other URL is DECLINED.
"""

from __future__ import annotations

import os
import sys

from mod_python import apache


def headerparserhandler(request):  # type: ignore[no-untyped-def]
    if request.uri != "/probe":
        return apache.DECLINED
    facts = {
        "executable": sys.executable,
        "version": "{}.{}".format(*sys.version_info[:2]),
        "uid": str(os.getuid()),
        "client_ip": request.connection.client_ip,
        "options": ",".join("{}={}".format(*item) for item in sorted(request.get_options().items())),
        "sys_path": os.pathsep.join(sys.path),
    }
    request.content_type = "text/plain"
    request.write("".join("{}={}\n".format(*item) for item in facts.items()).encode("utf-8"))
    return apache.DONE
