#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A python-socketio client (Debian's python3-socketio) driven line by line,
for tests/interop/python.test.js.

    sio_client.py URL

connects to URL with the library's DEFAULT options (transports: polling,
then the upgrade to WebSocket; no reconnection, so a failure shows), then:

  stdout, one JSON object per line:
    {"ev": "$versions", "socketio": V, "engineio": V}   first
    {"ev": "$connect", "sid": SID, "eio_sid": EIO_SID, "transport": T}
    {"ev": "$connect_failed", "error": TEXT}           then exits 2
    {"ev": NAME, "args": [...], "transport": T}         every event received
    {"ev": "$ack", "id": ID, "args": [...]}            an ack to an emit
    {"ev": "$state", "transport": T, "eio_sid": S, "connected": B}
    {"ev": "$disconnect"}, {"ev": "$bye"}
  stdin, one JSON command per line:
    {"op": "emit", "event": NAME, "data": X, "id": ID}  (id: ask for an ack)
    {"op": "state"}
    {"op": "quit"}                  (end of input quits too)

Every library log line goes to stderr.
"""

import importlib.metadata as metadata
import json
import logging
import sys
import threading

import socketio


def main():
    url = sys.argv[1]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format='%(asctime)s %(name)s %(message)s')
    lock = threading.Lock()

    def out(**kw):
        with lock:
            sys.stdout.write(json.dumps(kw, ensure_ascii=False) + '\n')
            sys.stdout.flush()

    # The library's defaults except reconnection, and its loggers on so
    # that a failed upgrade ("WebSocket upgrade failed") is in the log.
    sio = socketio.Client(reconnection=False, logger=True,
                          engineio_logger=True)

    @sio.event
    def connect():
        out(ev='$connect', sid=sio.get_sid(), eio_sid=sio.eio.sid,
            transport=sio.transport())

    @sio.event
    def disconnect():
        out(ev='$disconnect')

    @sio.on('*')
    def any_event(event, *args):
        out(ev=event, args=list(args), transport=sio.transport())

    out(ev='$versions', socketio=metadata.version('python-socketio'),
        engineio=metadata.version('python-engineio'))
    try:
        # No transports argument: polling first, then the upgrade.
        sio.connect(url, wait_timeout=10)
    except Exception as e:  # the test reports whatever went wrong
        out(ev='$connect_failed', error=repr(e))
        return 2

    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd.get('op')
        if op == 'emit':
            cb = None
            if cmd.get('id') is not None:
                def cb(*args, ack_id=cmd['id']):
                    out(ev='$ack', id=ack_id, args=list(args))
            sio.emit(cmd['event'], cmd.get('data'), callback=cb)
        elif op == 'state':
            out(ev='$state', transport=sio.transport(), eio_sid=sio.eio.sid,
                connected=sio.connected)
        elif op == 'quit':
            break
    sio.disconnect()
    out(ev='$bye')
    return 0


if __name__ == '__main__':
    sys.exit(main())
