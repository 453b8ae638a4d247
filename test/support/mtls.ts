// A Temporal frontend that demands client certificates, as production's does: a TLS
// terminator in front of the suite's dev server (which itself speaks plaintext), with a
// throwaway certificate authority made by the real openssl.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

export const SERVER_NAME = 'temporal.countersign.test';

export interface Authority {
  ca: string;
  /** Issues a key and certificate signed by this authority, as PEM files in its folder. */
  issue(name: string, usage: 'serverAuth' | 'clientAuth', subjectAltName?: string): { cert: string; key: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeAuthority(dir: string, name: string): Authority {
  mkdirSync(dir, { recursive: true });
  const ca = path.join(dir, `${name}-ca.pem`);
  const caKey = path.join(dir, `${name}-ca.key`);
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', caKey, '-out', ca, '-subj', `/CN=${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return {
    ca,
    issue(leaf, usage, subjectAltName) {
      const key = path.join(dir, `${leaf}.key`);
      const csr = path.join(dir, `${leaf}.csr`);
      const cert = path.join(dir, `${leaf}.pem`);
      const extensions = path.join(dir, `${leaf}.ext`);
      writeFileSync(extensions, [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        `extendedKeyUsage=${usage}`,
        ...(subjectAltName ? [`subjectAltName=${subjectAltName}`] : []),
      ].join('\n'));
      openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${leaf}`]);
      openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-out', cert, '-extfile', extensions]);
      return { cert, key };
    },
  };
}

export interface MutualTlsFrontend {
  address: string;
  /** Connections whose client certificate the frontend accepted. */
  authorizedConnections: number;
  close(): Promise<void>;
}

/** Forwards every connection that presents a certificate from `clientCa` to `target`. */
export async function startMutualTlsFrontend(options: { target: string; cert: string; key: string; clientCa: string }): Promise<MutualTlsFrontend> {
  const [targetHost, targetPort] = [options.target.slice(0, options.target.lastIndexOf(':')), Number(options.target.slice(options.target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const frontend: MutualTlsFrontend = { address: '', authorizedConnections: 0, close: async () => undefined };
  const server = tls.createServer(
    {
      cert: readFileSync(options.cert),
      key: readFileSync(options.key),
      ca: readFileSync(options.clientCa),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      frontend.authorizedConnections += 1;
      const upstream = net.connect(targetPort, targetHost);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    },
  );
  server.on('tlsClientError', () => undefined); // a refused client is the point, not a failure
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  frontend.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  frontend.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return frontend;
}
