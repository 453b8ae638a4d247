import net from 'node:net';
import { startTcpProxy } from '../support/tcp-proxy';

// The fault-injection suites stand on this proxy: a cut link must look cut to a client.
async function echoServer() {
  const server = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function roundTrip(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    socket.on('connect', () => socket.write('ping'));
    socket.on('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString());
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('the test TCP proxy', () => {
  it('forwards, refuses or hangs when cut, and forwards again when restored', async () => {
    const server = await echoServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    try {
      expect(await roundTrip(proxy.address.port)).toBe('ping');
      const held = net.connect(proxy.address);
      await new Promise((resolve) => held.on('connect', resolve));
      const heldClosed = new Promise((resolve) => held.on('close', resolve));
      proxy.cut('refuse');
      await heldClosed;
      expect(['closed', 'error']).toContain(await roundTrip(proxy.address.port));
      proxy.cut('hang');
      expect(await roundTrip(proxy.address.port, 300)).toBe('timeout');
      proxy.restore();
      expect(await roundTrip(proxy.address.port)).toBe('ping');
    } finally {
      await proxy.close();
      server.close();
    }
  });
});
