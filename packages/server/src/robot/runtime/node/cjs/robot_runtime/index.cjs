// `require('robot_runtime')` in a CommonJS project (or a main.ts that tsx compiles to CommonJS).
// Delegates to the instance the worker runner wired up (globalThis.robot_runtime): requiring the
// .mjs from here could load a second, unwired copy through tsx's CommonJS hooks.
const runtime = () => {
  const r = globalThis.robot_runtime;
  if (!r) throw new Error('robot_runtime works only inside the RealWorldClaw robot worker');
  return r;
};
module.exports = {
  push_message: (event, data) => runtime().push_message(event, data),
  motion: (value, context) => runtime().motion(value, context),
  should_stop: () => runtime().should_stop(),
  wait_stop: (seconds) => runtime().wait_stop(seconds),
};
