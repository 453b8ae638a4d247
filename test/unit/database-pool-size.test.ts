import { readSettings } from '../../settings/settings';

describe('COUNTERSIGN_DATABASE_POOL_SIZE', () => {
  it('sizes the API\'s PostgreSQL pool, 10 connections by default', () => {
    expect(readSettings({}).databasePoolSize).toBe(10);
    expect(readSettings({ COUNTERSIGN_DATABASE_POOL_SIZE: '40' }).databasePoolSize).toBe(40);
  });

  it('refuses a pool size that is not a whole number from 1 to 1000, naming the variable', () => {
    for (const bad of ['0', '-1', '2.5', 'many', '100000']) {
      expect(() => readSettings({ COUNTERSIGN_DATABASE_POOL_SIZE: bad })).toThrow(/COUNTERSIGN_DATABASE_POOL_SIZE must be a whole number from 1 to 1000/);
    }
  });
});
