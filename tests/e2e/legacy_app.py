"""An application written against gevent-websocket's documented API only.

It runs unchanged under gevent-websocket's own worker and under ours (where hixie and hybi-07/08
clients reach it too).
"""


def application(environ, start_response):
    websocket = environ.get("wsgi.websocket")
    if websocket is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a plain page from the legacy app\n"]
    while True:
        message = websocket.receive()
        if message is None:
            break
        websocket.send(message)
    return []
