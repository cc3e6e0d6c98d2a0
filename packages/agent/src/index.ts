export { EdgeAgent, type EdgeAgentOptions, builtinRegistry, defaultHttpUrl } from './agent.ts';
export { type AgentPrinterConfig, parsePrinterConfigs } from './local-printers.ts';
export { EventJournal } from './journal.ts';
export { CommandRecord } from './command-record.ts';
