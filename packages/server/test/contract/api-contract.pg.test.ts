import { defineContractSuite } from './contract-suite.ts';

// The same contract with PostgreSQL as the database (RWC_DATABASE_URL).
defineContractSuite('postgres');
