import { Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';

/** Prometheus text exposition of request counts and the deployments by status. */
@Injectable()
export class Metrics {
  private readonly requests = new Map<string, number>();

  countRequest(method: string, route: string, status: number): void {
    const key = `method="${method}",route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  async render(db: DataSource): Promise<string> {
    const lines = ['# HELP countersign_http_requests_total HTTP requests answered.', '# TYPE countersign_http_requests_total counter'];
    for (const [labels, count] of this.requests) lines.push(`countersign_http_requests_total{${labels}} ${count}`);
    lines.push('# HELP countersign_deployments Deployments in the index, by status.', '# TYPE countersign_deployments gauge');
    const rows = (await db.query('SELECT status, count(*)::int AS n FROM deployments GROUP BY status').catch(() => [])) as Array<{ status: string; n: number }>;
    for (const row of rows) lines.push(`countersign_deployments{status="${row.status}"} ${row.n}`);
    return `${lines.join('\n')}\n`;
  }
}
