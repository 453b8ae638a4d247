export default async function globalTeardown(): Promise<void> {
  const stops = (globalThis as { __countersignStops?: Array<() => Promise<void>> }).__countersignStops ?? [];
  for (const stop of stops.reverse()) await stop().catch((err: Error) => process.stderr.write(`[test teardown] ${err.message}\n`));
}
