#!/usr/bin/env node
// `npx rwc-agent …` / `npm run agent -- …`: the agent is TypeScript, run through tsx like the server.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
