import { createLogger, parseLogLevel, temporalLogger, temporalLogLevel } from '../../settings/logger';
import { readSettings } from '../../settings/settings';

function collecting(level: Parameters<typeof createLogger>[0]['level'] = 'info') {
  const lines: Array<Record<string, any>> = [];
  const logger = createLogger({ level, name: 'worker', destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
  return { logger, lines };
}

describe('settings/logger', () => {
  it('reads COUNTERSIGN_LOG_LEVEL in any case, info when unset, and refuses an unknown level', () => {
    expect(parseLogLevel(undefined)).toBe('info');
    expect(parseLogLevel('')).toBe('info');
    expect(parseLogLevel('WARN')).toBe('warn');
    expect(parseLogLevel('silent')).toBe('silent');
    expect(() => parseLogLevel('loud')).toThrow(/COUNTERSIGN_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
    expect(readSettings({}).logLevel).toBe('info');
    expect(readSettings({ COUNTERSIGN_LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
    expect(() => readSettings({ COUNTERSIGN_LOG_LEVEL: 'loud' })).toThrow(/COUNTERSIGN_LOG_LEVEL must be one of trace, .*got "loud"/);
  });

  it('routes the Temporal runtime\'s lines to the same JSON logger, with their metadata as fields', () => {
    const { logger, lines } = collecting('info');
    const temporal = temporalLogger(logger);
    temporal.info('Activity completed', { workflowId: 'dep_1', activityType: 'deploy', [Symbol.for('log_timestamp')]: 1n });
    temporal.log('ERROR', 'Worker failed', { sdkComponent: 'worker' });
    temporal.debug('below the level');
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, name: 'worker', component: 'temporal', msg: 'Activity completed', workflowId: 'dep_1', activityType: 'deploy' }),
      expect.objectContaining({ level: 50, msg: 'Worker failed', sdkComponent: 'worker' }),
    ]);
    expect(temporalLogLevel('warn')).toBe('WARN');
    expect(temporalLogLevel('silent')).toBe('ERROR');
  });

  it('never writes a token, secret or Authorization header a logged object carries', () => {
    const { logger, lines } = collecting();
    logger.info({ token: 'cs_abc', principal: { secret: 's3cret' }, req: { headers: { authorization: 'Bearer cs_abc' } } }, 'something happened');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('cs_abc');
    expect(text).not.toContain('s3cret');
    expect(lines[0]).toMatchObject({ token: '[redacted]', principal: { secret: '[redacted]' }, req: { headers: { authorization: '[redacted]' } } });
  });
});
