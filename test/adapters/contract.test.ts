import { describe } from '@jest/globals';
import { newStore, type StoreKind } from '../support/idp.js';
import { storeContract } from './contract.js';

/** One contract, both stores: the embedded default must behave like Redis. */
describe.each<StoreKind>(['memory', 'redis'])('%s store', (kind) => {
  storeContract(() => newStore(kind));
});
