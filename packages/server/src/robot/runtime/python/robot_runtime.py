"""What a RealWorldClaw robot project may import (``from robot_runtime import push_message``).

The worker (runner.py) wires these up before the project's ``main.py`` runs:

* ``push_message(event, data=None)``: sends ``data`` (anything JSON can carry) to the connected
  clients as a Socket.IO event named ``event``. Thread-safe: call it from any thread.
* ``motion``: decorator marking a method that moves the robot. While a motion is active, the server
  runs the project's ``stop()`` when the controller goes silent (deadman) or disconnects.
* ``should_stop()`` / ``wait_stop(seconds)``: True once a stop was requested (disconnect, deadman,
  e-stop, call timeout); long loops poll it, sleeps use ``wait_stop`` so a stop wakes them at once.
  The flag clears when the next call starts.

Outside the worker (a unit test of the project), ``push_message`` raises RuntimeError.
"""
import threading

_sender = None
_stop_event = threading.Event()


def push_message(event, data=None):
    """Pushes ``data`` to the clients as the Socket.IO event ``event`` (a non-empty string)."""
    if _sender is None:
        raise RuntimeError("push_message works only inside the RealWorldClaw robot worker")
    _sender(event, data)


def motion(fn):
    """Marks ``fn`` as a motion command (guarded by the server's deadman timer)."""
    fn.__robot_motion__ = True
    return fn


def should_stop():
    """True once the server asked the project to stop (until the next call starts)."""
    return _stop_event.is_set()


def wait_stop(seconds):
    """Sleeps up to ``seconds``; returns True early when a stop is requested."""
    return _stop_event.wait(seconds)
