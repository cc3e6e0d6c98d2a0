import { defineContractSuite } from './contract-suite.ts';

defineContractSuite('sqlite');
