/** Module resolution hook of the robot worker: `import ... from 'robot_runtime'` finds the runtime. */
const runtimeUrl = new URL('./robot_runtime.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'robot_runtime') return { url: runtimeUrl, shortCircuit: true };
  return next(specifier, context);
}
