#!/usr/bin/env node
// `npx rwc-agent …` / `npm run agent -- …`: the agent is TypeScript, run through tsx like the server.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
await main();
