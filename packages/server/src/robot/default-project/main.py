"""Default robot project: a simulated quadruped with a Unitree-style ``sport_client``.

Runs without hardware, so the console, the tests and the demo have something real to drive. The
method names follow Unitree SDK2's ``SportClient`` (StandUp, StandDown, Move, StopMove, Damp) plus
a state getter, a long synchronous walk, a background patrol that pushes ``task_completed`` when it
ends, and a 10 Hz ``telemetry`` push, as in seed 003's examples.

Call it from any Socket.IO client::

    socket.emit('process', {params: {object: 'sport_client', method: 'StandUp', args: {}}}, ack)
    socket.emit('process', {params: {object: 'sport_client', method: 'Move',
                                     args: {vx: 0.3, vy: 0, vyaw: 0}}}, ack)

Move is fire-and-forget like the real robot's: the dog keeps walking until StopMove, stop() or the
server's deadman (Move, WalkForward and StartPatrol are marked ``@motion``).
"""
import math
import threading
import time

from robot_runtime import motion, push_message, wait_stop

TELEMETRY_HZ = 10


class SportClient:
    """Simulated sport service of a quadruped (Unitree SDK2 SportClient method names)."""

    # Speed limits of sport mode, m/s and rad/s (about a Go2's).
    MAX_VX = 1.5
    MAX_VY = 0.8
    MAX_VYAW = 2.0
    STAND_HEIGHT = 0.32
    STAND_SECONDS = 0.6

    def __init__(self):
        self._lock = threading.RLock()
        self.mode = "lying"  # damp | lying | standing | moving
        self.x = self.y = self.yaw = 0.0
        self.vx = self.vy = self.vyaw = 0.0
        self.body_height = 0.0
        self.battery = 100.0
        self.odometer = 0.0
        self._task = None
        self._task_stop = threading.Event()
        self._sim = threading.Thread(target=self._simulate, name="quadruped-sim", daemon=True)
        self._sim.start()

    # --- the sport service -------------------------------------------------------------------

    def StandUp(self):
        """Stands up from lying or damping (takes about 0.6 s)."""
        with self._lock:
            if self.mode in ("standing", "moving"):
                return {"code": 0, "mode": self.mode, "message": "already standing"}
        time.sleep(self.STAND_SECONDS)
        with self._lock:
            self.mode = "standing"
            self.body_height = self.STAND_HEIGHT
        return {"code": 0, "mode": "standing"}

    def StandDown(self):
        """Stops and lies down."""
        self._halt()
        with self._lock:
            self.mode = "lying"
            self.body_height = 0.0
        return {"code": 0, "mode": "lying"}

    @motion
    def Move(self, vx=0.0, vy=0.0, vyaw=0.0):
        """Walks at vx, vy (m/s) and turns at vyaw (rad/s) until StopMove; values are clamped to the limits."""
        with self._lock:
            if self.mode not in ("standing", "moving"):
                raise RuntimeError("cannot Move while %s: call StandUp first" % self.mode)
            self.vx = _clamp(float(vx), self.MAX_VX)
            self.vy = _clamp(float(vy), self.MAX_VY)
            self.vyaw = _clamp(float(vyaw), self.MAX_VYAW)
            self.mode = "moving" if (self.vx or self.vy or self.vyaw) else "standing"
            return {"code": 0, "vx": self.vx, "vy": self.vy, "vyaw": self.vyaw}

    def StopMove(self):
        """Stops walking and keeps standing."""
        with self._lock:
            self._zero_velocity()
        return {"code": 0, "mode": self.mode}

    def Damp(self):
        """Damps every joint: the robot sinks to the floor (the safe state of a real robot)."""
        self._halt()
        with self._lock:
            self.mode = "damp"
            self.body_height = 0.0
        return {"code": 0, "mode": "damp"}

    def GetState(self, keys=None):
        """The robot's state; `keys` picks some fields (e.g. ["mode", "battery"])."""
        state = self._state()
        if keys:
            state = {k: state[k] for k in keys if k in state}
        return {"code": 0, "state": state}

    @motion
    def WalkForward(self, distance=1.0, speed=0.3):
        """Walks `distance` m straight ahead at `speed` m/s and returns when there (or stopped)."""
        distance, speed = abs(float(distance)), _clamp(abs(float(speed)), self.MAX_VX) or 0.1
        start = self.odometer
        self.Move(vx=speed)
        interrupted = False
        deadline = time.monotonic() + min(distance / speed + 1.0, 120.0)
        while self.odometer - start < distance:
            if wait_stop(0.02) or time.monotonic() > deadline or self.mode != "moving":
                interrupted = True
                break
        with self._lock:
            self._zero_velocity()
        return {"code": 0, "distance": round(self.odometer - start, 3), "interrupted": interrupted}

    @motion
    def StartPatrol(self, seconds=10.0):
        """Walks a square for `seconds` in the background; pushes `task_completed` (or `task_error`)."""
        with self._lock:
            if self.mode not in ("standing", "moving"):
                raise RuntimeError("cannot patrol while %s: call StandUp first" % self.mode)
            if self._task and self._task.is_alive():
                return {"code": 1, "message": "a patrol is already running"}
            self._task_stop.clear()
            self._task = threading.Thread(target=self._patrol, args=(float(seconds),), name="patrol", daemon=True)
            self._task.start()
        return {"code": 0, "message": "patrol started", "seconds": float(seconds)}

    def stop(self):
        """Called by the server on disconnect, deadman, takeover and e-stop: stop moving at once."""
        self._halt()

    # --- simulation --------------------------------------------------------------------------

    def _halt(self):
        self._task_stop.set()
        with self._lock:
            self._zero_velocity()
        task = self._task
        if task and task is not threading.current_thread():
            task.join(timeout=1.0)

    def _zero_velocity(self):
        self.vx = self.vy = self.vyaw = 0.0
        if self.mode == "moving":
            self.mode = "standing"

    def _patrol(self, seconds):
        start, odo0 = time.monotonic(), self.odometer
        leg = 0
        try:
            while time.monotonic() - start < seconds:
                self.Move(vx=0.4, vyaw=0.0)
                if self._task_stop.wait(min(2.0, max(0.0, seconds - (time.monotonic() - start)))):
                    push_message("task_error", {"task": "patrol", "message": "patrol stopped before it finished"})
                    return
                self.Move(vx=0.0, vyaw=math.pi / 2)
                if self._task_stop.wait(1.0):
                    push_message("task_error", {"task": "patrol", "message": "patrol stopped before it finished"})
                    return
                leg += 1
            with self._lock:
                self._zero_velocity()
            push_message(
                "task_completed",
                {"task": "patrol", "seconds": round(time.monotonic() - start, 1), "legs": leg,
                 "distance": round(self.odometer - odo0, 2)},
            )
        except Exception as e:  # e.g. Damp() during the patrol
            push_message("task_error", {"task": "patrol", "message": str(e)})

    def _state(self):
        with self._lock:
            return {
                "mode": self.mode,
                "x": round(self.x, 3),
                "y": round(self.y, 3),
                "yaw": round(self.yaw, 3),
                "vx": self.vx,
                "vy": self.vy,
                "vyaw": self.vyaw,
                "body_height": self.body_height,
                "battery": round(self.battery, 2),
                "odometer": round(self.odometer, 3),
            }

    def _simulate(self):
        dt = 1.0 / TELEMETRY_HZ
        last = time.monotonic()
        while True:
            time.sleep(dt)
            now = time.monotonic()
            step, last = now - last, now
            with self._lock:
                c, s = math.cos(self.yaw), math.sin(self.yaw)
                dx = (self.vx * c - self.vy * s) * step
                dy = (self.vx * s + self.vy * c) * step
                self.x += dx
                self.y += dy
                self.yaw = (self.yaw + self.vyaw * step + math.pi) % (2 * math.pi) - math.pi
                self.odometer += math.hypot(dx, dy)
                drain = 0.02 if self.mode == "moving" else 0.005 if self.mode == "standing" else 0.001
                self.battery = max(0.0, self.battery - drain * step)
            try:
                push_message("telemetry", self._state())
            except OSError:
                return  # the server is gone


def _clamp(v, limit):
    if math.isnan(v):
        return 0.0
    return max(-limit, min(limit, v))


sport_client = SportClient()
